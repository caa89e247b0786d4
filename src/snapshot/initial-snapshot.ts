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
import type { Lsn } from '../core/lsn.ts';
import type { ValueConverter } from '../decode/values/convert.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import type { SourceIdentity } from '../events/event-builder.ts';
import { buildSnapshotEvent } from '../events/snapshot-event.ts';
import { quoteLiteral } from '../core/sql-text.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { readKeysetChunk, type SnapshotTable } from './snapshot-tables.ts';
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
  const chunk = await readKeysetChunk(options.sql, table, after, options.chunkSize, options.where, options.converter);
  if (chunk.rows.length === 0) return undefined;
  const now = Date.now();
  const kind = options.kind === 'initial' ? 'true' : 'incremental';
  return {
    table,
    events: chunk.rows.map((r) => buildSnapshotEvent(options.identity, table.schema, table.table, r.row, r.key, options.lsn, now, kind, chunk.columns, table.byPosition)),
    lastKey: chunk.lastKey,
    tableDone: chunk.tableDone,
  };
}

/** Opens the snapshot's transaction: the slot's exported snapshot when there is one, else a new one. */
export async function beginSnapshotTransaction(sql: SqlConnection, exportedSnapshot: string | undefined): Promise<void> {
  await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (exportedSnapshot !== undefined) await sql.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(exportedSnapshot)}`);
}
