/**
 * The initial snapshot as batches for the change stream's consumer: each chunk
 * of rows becomes `r` events, goes through the transform chain, and is handed
 * out as a batch whose confirmation saves the snapshot's progress.
 *
 * Progress is saved only once a chunk's events are confirmed (delivered): a
 * crash before that reads the chunk again. Confirms come in order, so the last
 * chunk's confirm is the one that finds every table done.
 */
import { formatLsn } from '../core/lsn.ts';
import { buildGapEvent } from '../events/gap-event.ts';
import type { Lsn } from '../core/lsn.ts';
import type { ValueConverter } from '../decode/values/convert.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import type { SourceIdentity } from '../events/event-builder.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import type { TransformChain } from '../transform/transform-chain.ts';
import type { DeadLetter } from '../transform/transform.ts';
import { markDone, readSnapshotChunks, type SnapshotProgress } from './initial-snapshot.ts';
import type { SnapshotState, SnapshotStateFile } from './snapshot-state.ts';
import type { SnapshotTable } from './snapshot-tables.ts';

/** A snapshot to read before streaming, in its own repeatable-read transaction (already begun). */
export interface PlannedSnapshot {
  /** One connection per reader (`snapshot.parallelism`), each in a transaction in the same snapshot. */
  readers: SqlConnection[];
  tables: SnapshotTable[];
  state: SnapshotState;
  stateFile: SnapshotStateFile | undefined;
  /** The position the snapshot's events carry (the slot's consistent point, or its position). */
  lsn: Lsn;
  chunkSize: number;
  /** Read in the slot's exported snapshot: exactly consistent with the stream. */
  exported: boolean;
  resumed: boolean;
}

export interface SnapshotBatchContext<Batch> {
  identity: SourceIdentity;
  converter: ValueConverter;
  transforms: TransformChain;
  /** Registers a batch with the ack tracker, in stream order; undefined when it was empty (confirmed at once). */
  makeBatch(events: ChangeEvent[], deadLetters: DeadLetter[], onConfirmed: () => void): Batch | undefined;
  onProgress(progress: SnapshotProgress): void;
  onNotice(message: string): void;
  stopRequested(): boolean;
}

export async function* initialSnapshotBatches<Batch>(plan: PlannedSnapshot, context: SnapshotBatchContext<Batch>): AsyncGenerator<Batch> {
  const state = plan.state;
  const tablesDone = () => plan.tables.filter((t) => state.tables[`${t.schema}.${t.table}`]?.done).length;
  const totalRows = () => Object.values(state.tables).reduce((n, t) => n + t.rows, 0);
  const report = (table: string, estimatedRows: number) => {
    context.onProgress({ table, rows: state.tables[table]?.rows ?? 0, estimatedRows, tablesDone: tablesDone(), tables: plan.tables.length, done: state.done });
    if (state.done) context.onNotice(`initial snapshot done: ${totalRows()} rows from ${plan.tables.length} table(s)`);
  };
  let chunks = 0;
  try {
    const gap = state.gap;
    if (gap !== undefined && !gap.delivered) {
      // First, before any re-read row: the consumers learn what was lost (events/gap-event.ts).
      // resumedAt is empty when the state was written before the new slot existed.
      // Not through the transforms: a filter (ops, prefixes) must not hide the gap.
      const event = buildGapEvent({ ...gap, resumedAt: gap.resumedAt || formatLsn(plan.lsn) }, context.identity, plan.lsn);
      const batch = context.makeBatch([event], [], () => { gap.delivered = true; plan.stateFile?.write(state); });
      if (batch) yield batch;
    }
    for await (const chunk of readSnapshotChunks({
      readers: plan.readers, tables: plan.tables, state, chunkSize: plan.chunkSize, lsn: plan.lsn,
      identity: context.identity, converter: context.converter,
    })) {
      chunks++;
      const name = `${chunk.table.schema}.${chunk.table.table}`;
      const rows = chunk.events.length;
      const result = context.transforms(chunk.events, undefined);
      const confirmed = () => {
        // Confirms come in the order chunks were handed out, and one unit's chunks in key order.
        // A range's rows count for its table too (the table's `rows` is their sum).
        const progress = chunk.progress;
        progress.after = chunk.lastKey;
        progress.rows += rows;
        if (chunk.tableProgress !== progress) chunk.tableProgress.rows += rows;
        if (chunk.done) markDone(chunk);
        state.done = tablesDone() === plan.tables.length;
        plan.stateFile?.write(state);
        report(name, chunk.table.estimatedRows);
      };
      const batch = context.makeBatch(result.events, result.deadLetters, confirmed);
      if (batch) yield batch;
      if (context.stopRequested()) return;
    }
    if (chunks === 0) {
      // Nothing to read (empty tables, or everything was already confirmed).
      for (const t of plan.tables) (state.tables[`${t.schema}.${t.table}`] ??= { rows: 0, done: true }).done = true;
      state.done = true;
      plan.stateFile?.write(state);
      report('', 0);
    }
  } finally {
    await closeSnapshotReaders(plan.readers);
  }
}

/**
 * Closes each reader's connection (once the snapshot was read, or on a stop;
 * closing twice is harmless). No COMMIT first: the transactions are read-only,
 * and the stop path may run while the snapshot's own end does.
 */
export async function closeSnapshotReaders(readers: SqlConnection[]): Promise<void> {
  await Promise.all(readers.map((sql) => sql.close()));
}
