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
import { buildSnapshotEvent } from '../events/snapshot-event.ts';
import { ConfirmInOrder } from './confirm-in-order.ts';
import { markDone, readSnapshotChunks, type SnapshotChunk, type SnapshotProgress } from './initial-snapshot.ts';
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
    // Progress is saved in the order chunks were read, whatever order their batches confirm in
    // (a batch emptied by the transforms confirms at once, before the ones in flight).
    const inOrder = new ConfirmInOrder();
    for await (const chunk of readSnapshotChunks({
      readers: plan.readers, tables: plan.tables, state, chunkSize: plan.chunkSize, converter: context.converter,
    })) {
      chunks++;
      const name = `${chunk.table.schema}.${chunk.table.table}`;
      const rows = chunk.read.texts.length;
      const confirmed = () => {
        // Confirms come in the order chunks were handed out, and one unit's chunks in key order.
        // A range's rows count for its table too (the table's `rows` is their sum).
        const progress = chunk.progress;
        progress.after = chunk.lastKey;
        progress.rows += rows;
        if (chunk.tableProgress !== progress) chunk.tableProgress.rows += rows;
        if (chunk.done) markDone(chunk);
        state.done = tablesDone() === plan.tables.length;
        if (state.done) plan.stateFile?.write(state);
        else plan.stateFile?.saveSoon(state);
        report(name, chunk.table.estimatedRows);
      };
      // A chunk's events are built a slice at a time, just before they are serialized:
      // fewer events alive at once, and still in the CPU's caches when they are written.
      for (let from = 0; from < rows; from += SNAPSHOT_SLICE_ROWS) {
        const to = Math.min(rows, from + SNAPSHOT_SLICE_ROWS);
        const result = context.transforms(snapshotEvents(chunk, from, to, plan.lsn, context.identity), undefined);
        const batch = context.makeBatch(result.events, result.deadLetters, inOrder.add(to === rows ? confirmed : undefined));
        if (batch) yield batch;
      }
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
 * Rows per batch when a chunk is handed out: small enough that a slice's events
 * are serialized while they are still in the CPU's caches and mostly die young
 * (a 2,000-row chunk's events, about 6 MB, were copied by the collector), large
 * enough that a batch's fixed costs do not count.
 */
export const SNAPSHOT_SLICE_ROWS = 250;

/** Rows from..to of a chunk as `r` events (the snapshot's final row marked `last`). */
function snapshotEvents(chunk: SnapshotChunk, from: number, to: number, lsn: Lsn, identity: SourceIdentity): ChangeEvent[] {
  const { table, read } = chunk;
  const events = new Array<ChangeEvent>(to - from);
  const lastIndex = chunk.final ? read.texts.length - 1 : -1;
  for (let i = from; i < to; i++) {
    const { row, key } = read.convert(i);
    events[i - from] = buildSnapshotEvent(identity, table.schema, table.table, row, key, lsn, chunk.readMs, i === lastIndex ? 'last' : 'true', read.columns, table.byPosition);
  }
  return events;
}

/**
 * Closes each reader's connection (once the snapshot was read, or on a stop;
 * closing twice is harmless). No COMMIT first: the transactions are read-only,
 * and the stop path may run while the snapshot's own end does.
 */
export async function closeSnapshotReaders(readers: SqlConnection[]): Promise<void> {
  await Promise.all(readers.map((sql) => sql.close()));
}
