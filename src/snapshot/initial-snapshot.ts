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
import type { JsonObject } from '../core/json.ts';
import type { Lsn } from '../core/lsn.ts';
import type { TextConverter, ValueConverter } from '../decode/values/convert.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import type { SourceIdentity } from '../events/event-builder.ts';
import { buildSnapshotEvent } from '../events/snapshot-event.ts';
import { quoteLiteral } from '../source/replication-connection.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { chunkQuery, type SnapshotTable } from './snapshot-tables.ts';
import type { SnapshotState } from './snapshot-state.ts';

export interface SnapshotChunk {
  table: SnapshotTable;
  events: ChangeEvent[];
  /** Key of the chunk's last row (text), where the next chunk starts. */
  lastKey: Array<string | null>;
  /** No rows after this chunk in its table. */
  tableDone: boolean;
}

export interface SnapshotProgress {
  table: string;
  rows: number;
  estimatedRows: number;
  tablesDone: number;
  tables: number;
  done: boolean;
}

/** Reads every table's remaining chunks; the final row of the final chunk is marked `last`. */
export async function* readSnapshotChunks(options: {
  sql: SqlConnection;
  tables: SnapshotTable[];
  state: SnapshotState;
  chunkSize: number;
  lsn: Lsn;
  identity: SourceIdentity;
  converter: ValueConverter;
  /** "true" for the initial snapshot ("last" on its final row); "incremental" otherwise. */
  kind: 'initial' | 'incremental';
  where?: string;
}): AsyncGenerator<SnapshotChunk> {
  let pending: SnapshotChunk | undefined;
  for (const table of options.tables) {
    const name = `${table.schema}.${table.table}`;
    const progress = options.state.tables[name] ??= { rows: 0, done: false };
    if (progress.done) continue;
    let after = progress.after;
    for (;;) {
      const chunk = await readChunk(options, table, after);
      if (chunk === undefined) {
        // The table ended exactly at a chunk boundary: the chunk before is its last.
        if (pending !== undefined && pending.table === table) pending.tableDone = true;
        else progress.done = true; // none of its rows are in flight in this run: all were confirmed before
        break;
      }
      if (pending !== undefined) yield pending;
      pending = chunk;
      after = chunk.lastKey;
      if (chunk.tableDone) break;
    }
  }
  if (pending !== undefined) {
    const final = pending.events[pending.events.length - 1];
    if (final !== undefined && options.kind === 'initial') final.source.snapshot = 'last';
    yield pending;
  }
}


async function readChunk(
  options: Parameters<typeof readSnapshotChunks>[0], table: SnapshotTable, after: Array<string | null> | undefined,
): Promise<SnapshotChunk | undefined> {
  // Key columns are read even when the publication's column list leaves them out.
  const extraKeys = table.key.filter((k) => !table.columns.includes(k.name)).map((k) => k.name);
  const query = chunkQuery({ ...table, columns: [...table.columns, ...extraKeys] }, after, options.chunkSize, options.where);
  const result = await options.sql.queryText(query.text, query.values);
  if (result.rows.length === 0) return undefined;
  const visible = table.columns.length;
  const converters: TextConverter[] = result.columns.slice(0, visible).map((c) => options.converter.converterFor(c.typeOid));
  const keyIndexes = table.key.map((k) => result.columns.findIndex((c) => c.name === k.name));
  const keyConverters = keyIndexes.map((i) => options.converter.converterFor(result.columns[i]!.typeOid));
  const names = result.columns.map((c) => c.name);
  const now = Date.now();
  const events: ChangeEvent[] = [];
  for (const values of result.rows) {
    const row: JsonObject = {};
    for (let i = 0; i < visible; i++) {
      const text = values[i];
      row[names[i]!] = text === null || text === undefined ? null : converters[i]!(text);
    }
    const key: JsonObject = {};
    keyIndexes.forEach((index, k) => {
      const text = values[index];
      key[table.key[k]!.name] = text === null || text === undefined ? null : keyConverters[k]!(text);
    });
    events.push(buildSnapshotEvent(options.identity, table.schema, table.table, row, key, options.lsn, now, options.kind === 'initial' ? 'true' : 'incremental'));
  }
  const lastValues = result.rows[result.rows.length - 1]!;
  return {
    table,
    events,
    lastKey: keyIndexes.map((i) => lastValues[i] ?? null),
    tableDone: result.rows.length < options.chunkSize,
  };
}

/** Opens the snapshot's transaction: the slot's exported snapshot when there is one, else a new one. */
export async function beginSnapshotTransaction(sql: SqlConnection, exportedSnapshot: string | undefined): Promise<void> {
  await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (exportedSnapshot !== undefined) await sql.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(exportedSnapshot)}`);
}
