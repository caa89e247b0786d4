/**
 * Reads tables in chunks, in one repeatable-read transaction, as `op: "r"` events.
 *
 * When pgcdc creates the slot, that transaction imports the snapshot the slot
 * exported (SET TRANSACTION SNAPSHOT): it sees exactly the rows committed before
 * the slot's consistent point, and the slot streams exactly the changes after
 * it, so snapshot and stream meet with nothing missed and nothing twice.
 *
 * A resumed snapshot (after a crash) reads the remaining chunks in a new
 * transaction, later than the slot's position: rows changed in between are read
 * in their newer state and their changes are streamed again afterwards, so a
 * consumer applying events in order (upserts and deletes by key) still ends
 * with the table's state. docs/snapshots.md says so.
 */
import type { ValueConverter } from '../decode/values/convert.ts';
import { quoteLiteral } from '../core/sql-text.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { readKeysetChunk, type KeysetChunk, type SnapshotTable } from './snapshot-tables.ts';
import type { ReadProgress, SnapshotState, TableProgress } from './snapshot-state.ts';
import { splitKeyRanges } from './key-ranges.ts';
import { ChunkSizer } from './chunk-sizer.ts';

export interface SnapshotChunk {
  table: SnapshotTable;
  /** The table's progress, and the part of it this chunk advances (the table's own, or one key range's). */
  tableProgress: TableProgress;
  progress: ReadProgress;
  /** The rows, as text: events are built from them in slices by the consumer (initial-snapshot-batches.ts). */
  read: KeysetChunk;
  /** When the chunk was read (the events' ts_ms). */
  readMs: number;
  /** Key of the chunk's last row (text), where the next chunk starts. */
  lastKey: Array<string | null>;
  /** No rows after this chunk in its table or key range. */
  done: boolean;
}

export interface SnapshotProgress {
  table: string;
  rows: number;
  estimatedRows: number;
  tablesDone: number;
  tables: number;
  done: boolean;
}

interface ReadOptions {
  /** One connection per reader, each in a transaction in the same snapshot (prepare-source.ts, joinSnapshot). */
  readers: SqlConnection[];
  tables: SnapshotTable[];
  state: SnapshotState;
  chunkSize: number;
  converter: ValueConverter;
}

/** A table, or one range of its key, read by one reader in keyset chunks. */
interface ReadUnit {
  table: SnapshotTable;
  tableProgress: TableProgress;
  progress: ReadProgress;
  from?: Array<string | null>;
  to?: Array<string | null>;
}

/**
 * Reads every table's remaining chunks, with as many readers at once as there
 * are connections: tables, and key ranges of large tables, are handed to the
 * next free reader in order.
 *
 * Memory follows the chunks in flight, never the table's size: each reader
 * holds the chunk it reads (or waits to hand on), one chunk waits for the
 * consumer, and the consumer turns one into events; chunks are sized so that
 * these hold a budget of row text (chunk-sizer.ts). Nothing is held back to
 * look ahead (a chunk knows whether its unit goes on, and the consumer marks the
 * snapshot's last row itself): a chunk's rows should die young, read, converted
 * and written within a collection or two of the young generation, or the
 * collector copies them twice and keeps them until a full collection
 * (docs/benchmarks.md).
 */
export async function* readSnapshotChunks(options: ReadOptions): AsyncGenerator<SnapshotChunk> {
  const units = await planUnits(options);
  const channel = new ChunkChannel(1);
  const sizer = new ChunkSizer(options.chunkSize, options.readers.length + 2);
  let next = 0;
  const reader = async (sql: SqlConnection) => {
    while (next < units.length && !channel.stopped) await readUnit(sql, units[next++]!, options, channel, sizer);
  };
  void Promise.all(options.readers.map(reader)).then(() => channel.end(), (error: unknown) => channel.fail(error));
  try {
    for (let chunk = await channel.take(); chunk !== undefined; chunk = await channel.take()) yield chunk;
  } finally {
    channel.stop();
  }
}

/** Tables not yet done, each one unit, or one per key range when several readers share it. */
async function planUnits(options: ReadOptions): Promise<ReadUnit[]> {
  const units: ReadUnit[] = [];
  const parts = options.readers.length * 2; // more ranges than readers: one slow range does not hold the others back
  for (const table of options.tables) {
    const name = `${table.schema}.${table.table}`;
    const tableProgress = options.state.tables[name] ??= { rows: 0, done: false };
    if (tableProgress.done) continue;
    // A table begun by one reader (after set) goes on as one unit: its ranges are set only on a first read.
    if (tableProgress.ranges === undefined && tableProgress.after === undefined && tableProgress.rows === 0 && options.readers.length > 1) {
      const ranges = await splitKeyRanges(options.readers[0]!, table, parts, options.chunkSize);
      if (ranges.length > 1) tableProgress.ranges = ranges.map((r) => ({ ...r, rows: 0, done: false }));
    }
    if (tableProgress.ranges === undefined) units.push({ table, tableProgress, progress: tableProgress });
    else {
      for (const range of tableProgress.ranges) {
        if (!range.done) units.push({ table, tableProgress, progress: range, ...(range.from ? { from: range.from } : {}), ...(range.to ? { to: range.to } : {}) });
      }
    }
  }
  return units;
}

/**
 * Reads one unit's chunks in key order, each handed on as soon as it is read:
 * a chunk knows whether more of its unit follows (readKeysetChunk reads a row
 * ahead), so the chunk that ends a unit is marked done when it is read, and the
 * unit is done once that chunk is confirmed.
 */
async function readUnit(sql: SqlConnection, unit: ReadUnit, options: ReadOptions, channel: ChunkChannel, sizer: ChunkSizer): Promise<void> {
  let after = unit.progress.after ?? unit.from;
  while (!channel.stopped) {
    const chunk = await readChunk(sql, unit, after, options.converter, sizer);
    if (chunk === undefined) {
      // Only on a unit's first read (every chunk says whether more follows): none of
      // its rows are in flight in this run, all were confirmed before.
      markDone(unit);
      return;
    }
    await channel.put(chunk);
    if (chunk.done) return;
    after = chunk.lastKey;
  }
}

/** A unit's progress is done; so is its table once every range of it is. */
export function markDone(unit: { tableProgress: TableProgress; progress: ReadProgress }): void {
  unit.progress.done = true;
  const ranges = unit.tableProgress.ranges;
  if (ranges !== undefined) unit.tableProgress.done = ranges.every((r) => r.done);
}

async function readChunk(sql: SqlConnection, unit: ReadUnit, after: Array<string | null> | undefined, converter: ValueConverter, sizer: ChunkSizer): Promise<SnapshotChunk | undefined> {
  const table = unit.table;
  const name = `${table.schema}.${table.table}`;
  const chunk = await readKeysetChunk(sql, table, after, sizer.rowsFor(name), undefined, converter, unit.to);
  if (chunk.texts.length === 0) return undefined;
  sizer.observe(name, chunk.texts);
  return {
    table,
    tableProgress: unit.tableProgress,
    progress: unit.progress,
    read: chunk,
    readMs: Date.now(),
    lastKey: chunk.lastKey,
    done: chunk.tableDone,
  };
}

/**
 * Chunks from the readers to the consumer, a few at a time: a reader waits
 * while `capacity` chunks wait (the sink is slower), which bounds memory.
 * Hand-written: a bounded queue of promises with stop and error, small enough
 * that a library would add more than it saves.
 */
class ChunkChannel {
  private readonly items: SnapshotChunk[] = [];
  private readonly capacity: number;
  private readonly blockedReaders: Array<() => void> = [];
  private wakeConsumer: (() => void) | undefined;
  private ended = false;
  private error: unknown;
  /** The consumer stopped (or a reader failed): readers finish their current read and stop. */
  stopped = false;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  async put(chunk: SnapshotChunk): Promise<void> {
    while (this.items.length >= this.capacity && !this.stopped) await new Promise<void>((resolve) => this.blockedReaders.push(resolve));
    if (this.stopped) return;
    this.items.push(chunk);
    this.wake();
  }

  async take(): Promise<SnapshotChunk | undefined> {
    while (this.items.length === 0 && !this.ended) await new Promise<void>((resolve) => { this.wakeConsumer = resolve; });
    if (this.error !== undefined) throw this.error;
    const chunk = this.items.shift();
    this.blockedReaders.shift()?.();
    return chunk;
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  fail(error: unknown): void {
    this.error = error;
    this.stop();
    this.end();
  }

  stop(): void {
    this.stopped = true;
    for (const resolve of this.blockedReaders.splice(0)) resolve();
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }
}

/** Opens the snapshot's transaction: the slot's exported snapshot when there is one, else a new one. */
export async function beginSnapshotTransaction(sql: SqlConnection, exportedSnapshot: string | undefined): Promise<void> {
  await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (exportedSnapshot !== undefined) await sql.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(exportedSnapshot)}`);
}
