/**
 * Incremental snapshots, DBLog-style (Debezium's semantics): a table is re-read
 * in key-ordered chunks while streaming goes on, and each chunk is merged into
 * the stream so that a consumer applying events in order ends with the table.
 *
 * Per chunk (reader: its own read-only connection; emitter: the stream's SQL connection):
 *
 *   reader:  BEGIN REPEATABLE READ READ ONLY; SELECT pg_current_snapshot()   -- snapshot S taken
 *   emitter: pg_logical_emit_message(false, 'pgcdc.watermark', low)        -- L, in the WAL after S
 *   reader:  SELECT ... WHERE key > last ORDER BY key LIMIT n               -- the chunk, as of S
 *   emitter: pg_logical_emit_message(false, 'pgcdc.watermark', high)       -- H
 *   reader:  COMMIT
 *
 * The reader is read-only so that a signal's `where` condition cannot change data.
 *
 * On the stream side the chunk's rows are held until H arrives, then emitted
 * there as `op: "r"` events (source.snapshot "incremental"), minus every row
 * whose key the stream changed in a way S did not see:
 * - any change between L and H: its transaction committed after S was taken
 *   (a transaction S sees committed before S, so before L), so the streamed
 *   change is newer than the chunk's row: the stream wins;
 * - a change just before L from a transaction S does not see (committed between
 *   taking S and writing L, or still finishing its commit when S was taken): the
 *   stream already delivered the newer state, so the older row must not follow
 *   it. These are found by transaction id against S (xmin, xmax, in-progress
 *   list) in the last RECENT_LIMIT changes of the table before L.
 * Changes after H come after the row in the stream, as they should. Rows are
 * emitted at H, so they are acknowledged like any other event at that position.
 *
 * Signals are logical decoding messages with prefix `pgcdc.signal` (no signal
 * table to create); watermarks carry the slot's name and a random token per
 * chunk, so other slots and a restarted pgcdc ignore them. Progress (the table
 * queue and the last confirmed key) is saved once a chunk's events are
 * confirmed; after a crash the unconfirmed chunk is read again.
 */
import { randomUUID } from 'node:crypto';
import { CdcError } from '../core/errors.ts';
import type { JsonObject } from '../core/json.ts';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import type { ValueConverter } from '../decode/values/convert.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import type { SourceIdentity } from '../events/event-builder.ts';
import { buildSnapshotEvent } from '../events/snapshot-event.ts';
import { parseTableName } from '../source/publications.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { readKeysetChunk, snapshotTables, type KeysetChunk, type SnapshotTable } from './snapshot-tables.ts';
import type { SnapshotStateFile } from './snapshot-state.ts';
import { isStatementProblem } from '../core/sqlstate.ts';
import { parseSignal, WATERMARK_PREFIX, type SnapshotSignal } from './snapshot-signal.ts';
import { parseSnapshot, visibleIn, type XidSnapshot } from './xid-snapshot.ts';

/** Changes of the table remembered from before a chunk's low watermark (see above). */
const RECENT_LIMIT = 10_000;
/** After a failed chunk read (connection lost, ...), try again after this long. */
const RETRY_MS = 5_000;

/** What is saved between runs: the queue of tables and how far the first one is confirmed. */
export interface IncrementalState {
  slot: string;
  /** The last signal handled: a replay of it after a restart is ignored. */
  signalLsn?: string;
  paused: boolean;
  tables: Array<{ name: string; where?: string; after?: Array<string | null>; rows: number }>;
}

export interface IncrementalProgress {
  table: string;
  rows: number;
  estimatedRows: number;
  tablesQueued: number;
  paused: boolean;
  /** The table's last chunk was confirmed. */
  tableDone: boolean;
}

export interface IncrementalSnapshotOptions {
  slot: string;
  publication: string;
  serverVersionNum: number;
  chunkSize: number;
  keys?: Record<string, string[]>;
  identity: SourceIdentity;
  converter: ValueConverter;
  /** Opens the reader's connection. */
  openSql: () => Promise<SqlConnection>;
  /** Writes a non-transactional logical decoding message (the watermarks) now. */
  emitMessage: (prefix: string, content: string) => Promise<void>;
  stateFile: SnapshotStateFile<IncrementalState> | undefined;
  onNotice: (message: string) => void;
  onProgress?: (progress: IncrementalProgress) => void;
}

/** The chunk being merged: read (or being read) on the SQL side, waiting for its watermarks on the stream side. */
interface OpenChunk {
  token: string;
  table: SnapshotTable;
  /** Row keys changed by the stream since the low watermark. */
  window: Set<string> | undefined;
  /** Set once the SELECT returned (always before the high watermark is written). */
  read: { rows: KeysetChunk; keyTexts: string[]; snapshot: XidSnapshot } | undefined;
}

/**
 * A chunk's rows at its high watermark, turned into events a slice at a time
 * by the stream (rows [from, to) of `rows`), so each slice's events are
 * written before the next are built (as the initial snapshot's are, decision
 * 0016): built all at once, 1,024 events outlived young-generation collections
 * and were promoted.
 */
export interface ChunkEvents {
  /** Rows read (some may be dropped: the stream changed them since the low watermark). */
  rows: number;
  build(from: number, to: number): ChangeEvent[];
  /** Call once every slice's events are confirmed (in order: ConfirmInOrder): saves progress. */
  onConfirmed: () => void;
}

export class IncrementalSnapshot {
  private readonly options: IncrementalSnapshotOptions;
  private state: IncrementalState;
  /** Where reading goes on (ahead of the confirmed state): table index in the queue and last key read. */
  private cursor: { name: string; after: Array<string | null> | undefined } | undefined;
  private chunk: OpenChunk | undefined;
  private sql: SqlConnection | undefined;
  private reading = false;
  /** Tables read to their end whose last chunk is not confirmed yet: not read again meanwhile. */
  private readonly readToEnd = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly tables = new Map<string, SnapshotTable>();
  /** (xid, key) of the table's changes before the open chunk's low watermark, newest last. */
  private recent: Array<{ xid: number | undefined; key: string }> = [];
  /** The last confirmed chunk's progress (for stats and metrics). */
  progress: IncrementalProgress | undefined;

  constructor(options: IncrementalSnapshotOptions) {
    this.options = options;
    const saved = options.stateFile?.read();
    this.state = saved !== undefined && saved.slot === options.slot ? saved : { slot: options.slot, paused: false, tables: [] };
  }

  /** True while a table is queued (and the stream must watch its changes). */
  get active(): boolean {
    return this.state.tables.length > 0;
  }

  /** Starts (or resumes, after a restart) reading where the saved state says. */
  start(): void {
    if (this.active && !this.state.paused) {
      this.options.onNotice(`resuming the incremental snapshot of ${this.state.tables.map((t) => t.name).join(', ')}`);
      this.readNextChunk();
    }
  }

  /** A `pgcdc.signal` message at `lsn`. */
  onSignal(content: string, lsn: Lsn): void {
    if (this.state.signalLsn !== undefined && lsn <= parseLsn(this.state.signalLsn)) return; // replayed after a restart
    let signal: SnapshotSignal;
    try {
      signal = parseSignal(content);
    } catch (error) {
      this.options.onNotice(`ignoring signal at ${formatLsn(lsn)}: ${(error as Error).message}`);
      return;
    }
    if (signal.slot !== undefined && signal.slot !== this.options.slot) return;
    this.state.signalLsn = formatLsn(lsn);
    switch (signal.type) {
      case 'execute-snapshot':
        for (const name of signal.tables) {
          const t = parseTableName(name);
          const qualified = `${t.schema}.${t.table}`;
          if (this.state.tables.some((q) => q.name === qualified)) continue;
          this.readToEnd.delete(qualified);
          this.state.tables.push({ name: qualified, ...(signal.where ? { where: signal.where } : {}), rows: 0 });
        }
        this.options.onNotice(`incremental snapshot requested: ${signal.tables.join(', ')}${signal.where ? ` where ${signal.where}` : ''}`);
        break;
      case 'stop-snapshot': {
        const stopping = signal.tables?.map((name) => { const t = parseTableName(name); return `${t.schema}.${t.table}`; });
        this.state.tables = stopping === undefined ? [] : this.state.tables.filter((t) => !stopping.includes(t.name));
        if (this.cursor !== undefined && !this.state.tables.some((t) => t.name === this.cursor!.name)) this.cursor = undefined;
        for (const name of this.readToEnd) if (!this.state.tables.some((t) => t.name === name)) this.readToEnd.delete(name);
        this.options.onNotice(`incremental snapshot stopped${stopping ? ` for ${stopping.join(', ')}` : ''}`);
        break;
      }
      case 'pause-snapshot':
        this.state.paused = true;
        this.options.onNotice('incremental snapshot paused');
        break;
      case 'resume-snapshot':
        this.state.paused = false;
        this.options.onNotice('incremental snapshot resumed');
        break;
    }
    // Saved now: the signal's position may be acknowledged before any chunk is.
    this.save();
    this.readNextChunk();
  }

  /**
   * Watches a committed transaction's changes (before transforms): keys changed
   * inside an open chunk's window lose against the stream.
   */
  observe(xid: number | undefined, events: readonly ChangeEvent[]): void {
    const table = this.chunk?.table ?? (this.cursor ? this.tables.get(this.cursor.name) : undefined);
    if (table === undefined) return;
    const window = this.chunk?.window;
    for (const event of events) {
      if (event.source.table !== table.table || event.source.schema !== table.schema) continue;
      for (const row of [event.before, event.after]) {
        if (row === null || row === undefined) continue;
        const key = keyText(table, row);
        if (key === undefined) continue;
        if (window !== undefined) window.add(key);
        else {
          this.recent.push({ xid, key });
          if (this.recent.length > RECENT_LIMIT) this.recent.splice(0, this.recent.length - RECENT_LIMIT);
        }
      }
    }
  }

  /** A `pgcdc.watermark` message at `lsn`: at a chunk's high watermark, its rows to emit there. */
  onWatermark(content: string, lsn: Lsn): ChunkEvents | undefined {
    let mark: { slot?: string; token?: string; mark?: string };
    try { mark = JSON.parse(content) as typeof mark; } catch { return undefined; }
    const chunk = this.chunk;
    if (mark.slot !== this.options.slot || chunk === undefined || mark.token !== chunk.token) return undefined; // another slot's, or from before a restart
    if (mark.mark === 'low') {
      chunk.window = new Set();
      return undefined;
    }
    if (mark.mark !== 'high' || chunk.read === undefined) return undefined;
    const { rows, keyTexts, snapshot } = chunk.read;
    const { columns, lastKey, tableDone } = rows;
    const window = chunk.window ?? new Set<string>();
    // Before the low watermark, only changes S did not see beat the chunk's rows.
    for (const change of this.recent) if (change.xid !== undefined && !visibleIn(snapshot, change.xid)) window.add(change.key);
    this.recent = [];
    this.chunk = undefined;
    const table = chunk.table;
    const now = Date.now();
    let emitted = 0;
    // Rows are converted as their slice is built, not when read: until its high
    // watermark comes through the stream a chunk is held as its text (only the
    // keys were converted, to compare with the window), and rows the window
    // drops are never converted.
    const build = (from: number, to: number): ChangeEvent[] => {
      const events: ChangeEvent[] = [];
      for (let i = from; i < to; i++) {
        if (window.has(keyTexts[i]!)) continue;
        const { row, key } = rows.convert(i);
        events.push(buildSnapshotEvent(this.options.identity, table.schema, table.table, row, key, lsn, now, 'incremental', columns));
      }
      emitted += events.length;
      return events;
    };
    const name = `${table.schema}.${table.table}`;
    // Reading goes on at once; what is saved follows the confirms.
    if (this.cursor?.name === name) this.cursor = tableDone ? undefined : { name, after: lastKey };
    if (tableDone) {
      this.tables.delete(name);
      if (this.state.tables.some((t) => t.name === name)) this.readToEnd.add(name);
    }
    this.readNextChunk();
    return {
      rows: keyTexts.length,
      build,
      onConfirmed: () => {
        const entry = this.state.tables.find((t) => t.name === name);
        if (entry === undefined) return; // stopped meanwhile
        entry.after = lastKey;
        entry.rows += emitted;
        if (tableDone) {
          this.state.tables = this.state.tables.filter((t) => t !== entry);
          this.readToEnd.delete(name);
          this.options.onNotice(`incremental snapshot of ${name} done: ${entry.rows} rows`);
        }
        this.save();
        this.progress = { table: name, rows: entry.rows, estimatedRows: table.estimatedRows, tablesQueued: this.state.tables.length, paused: this.state.paused, tableDone };
        this.options.onProgress?.(this.progress);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const sql = this.sql;
    this.sql = undefined;
    await sql?.close();
  }

  private save(): void {
    this.options.stateFile?.write(this.state);
  }

  /** Starts reading the next chunk unless one is open, paused, or nothing is queued. */
  private readNextChunk(): void {
    if (this.closed || this.reading || this.chunk !== undefined || this.state.paused) return;
    // The table being read goes on; otherwise the first queued one not yet read to its end.
    const next = this.state.tables.find((t) => t.name === this.cursor?.name) ?? this.state.tables.find((t) => !this.readToEnd.has(t.name));
    if (next === undefined) return;
    if (this.cursor === undefined || this.cursor.name !== next.name) this.cursor = { name: next.name, after: next.after };
    this.reading = true;
    const cursor = this.cursor;
    this.readChunk(next.name, next.where, cursor.after)
      .then(() => {
        this.reading = false;
        // The high watermark may have been merged before COMMIT returned: go on from here then.
        this.readNextChunk();
      })
      .catch((error: Error) => {
        this.reading = false;
        this.chunk = undefined;
        if (this.closed) return;
        if (error instanceof CdcError && error.code === 'PGCDC_SNAPSHOT') {
          // This table cannot be read (no key, gone, bad condition): drop it, go on with the rest.
          this.options.onNotice(`incremental snapshot of ${next.name} skipped: ${error.message}`);
          this.state.tables = this.state.tables.filter((t) => t.name !== next.name);
          this.cursor = undefined;
          this.save();
          this.readNextChunk();
          return;
        }
        this.options.onNotice(`incremental snapshot chunk of ${next.name} failed (${error.message}); trying again in ${RETRY_MS / 1000} s`);
        const sql = this.sql;
        this.sql = undefined;
        void sql?.close().catch(() => undefined);
        this.retryTimer = setTimeout(() => this.readNextChunk(), RETRY_MS);
        this.retryTimer.unref();
      });
  }

  private async readChunk(name: string, where: string | undefined, after: Array<string | null> | undefined): Promise<void> {
    this.sql ??= await this.options.openSql();
    const sql = this.sql;
    let table = this.tables.get(name);
    if (table === undefined) {
      [table] = await snapshotTables(sql, {
        publication: this.options.publication, tables: [name], serverVersionNum: this.options.serverVersionNum,
        ...(this.options.keys ? { keys: this.options.keys } : {}),
      });
      this.tables.set(name, table!);
    }
    const chunk: OpenChunk = { token: randomUUID(), table: table!, window: undefined, read: undefined };
    const watermark = (mark: 'low' | 'high') => this.options.emitMessage(WATERMARK_PREFIX, JSON.stringify({ slot: this.options.slot, token: chunk.token, mark }));
    await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      // The first statement takes the transaction's snapshot S; the low watermark is written after it.
      const [current] = await sql.query<{ snapshot: string }>(`SELECT ${this.options.serverVersionNum >= 130000 ? 'pg_current_snapshot()' : 'txid_current_snapshot()'}::text AS snapshot`);
      this.chunk = chunk;
      await watermark('low');
      const read = await readKeysetChunk(sql, chunk.table, after, this.options.chunkSize, where, this.options.converter);
      const keyTexts = read.texts.map((_, i) => keyText(chunk.table, read.convertKey(i))!);
      chunk.read = { rows: read, keyTexts, snapshot: parseSnapshot(current!.snapshot) };
      await watermark('high');
      await sql.query('COMMIT');
    } catch (error) {
      await sql.query('ROLLBACK').catch(() => undefined);
      if (isSqlProblem(error)) throw new CdcError('PGCDC_SNAPSHOT', `cannot read ${name}${where ? ` where ${where}` : ''}: ${(error as Error).message}`, { cause: error });
      throw error;
    }
  }
}

/** The row's key as one comparable string (stream rows and chunk rows go through the same converters). */
function keyText(table: SnapshotTable, row: JsonObject): string | undefined {
  let text = '';
  for (const k of table.key) {
    if (!(k.name in row)) return undefined;
    text += `${JSON.stringify(row[k.name])}\u0000`;
  }
  return text;
}

/** An error from the server about the query itself (bad WHERE, missing column), not the connection. */
function isSqlProblem(error: unknown): boolean {
  const codes = [(error as { code?: unknown }).code, (error as { cause?: { code?: unknown } }).cause?.code];
  return codes.some((code) => typeof code === 'string' && isStatementProblem(code));
}
