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
    // The snapshot's final row is marked `last`, and which row that is shows only
    // when no chunk follows. So each chunk's last row waits, as one event, and goes
    // out with the next chunk's first rows, or alone, marked, once the readers end:
    // one event held back, where holding back a whole chunk kept its rows alive
    // long enough for the collector to copy them twice.
    let held: HeldRow | undefined;
    for await (const chunk of readSnapshotChunks({
      readers: plan.readers, tables: plan.tables, state, chunkSize: plan.chunkSize, converter: context.converter,
    })) {
      chunks++;
      const name = `${chunk.table.schema}.${chunk.table.table}`;
      const estimatedRows = chunk.table.estimatedRows;
      const confirmed = chunkConfirmation(chunk, () => {
        state.done = tablesDone() === plan.tables.length;
        if (state.done) plan.stateFile?.write(state);
        else plan.stateFile?.saveSoon(state);
        report(name, estimatedRows);
      });
      // A chunk's events are built a slice at a time, just before they are serialized:
      // fewer events alive at once, and still in the CPU's caches when they are written.
      const lastRow = chunk.read.texts.length - 1;
      for (let from = 0; from < lastRow || held !== undefined; from += SNAPSHOT_SLICE_ROWS) {
        const to = Math.min(lastRow, from + SNAPSHOT_SLICE_ROWS);
        // The row held back from the chunk before goes first, and its chunk is confirmed with this batch.
        const events = snapshotEvents(chunk, from, to, plan.lsn, context.identity, held?.event);
        const result = context.transforms(events, undefined);
        const batch = context.makeBatch(result.events, result.deadLetters, inOrder.add(held?.confirmed));
        held = undefined;
        if (batch) yield batch;
      }
      held = { event: snapshotEvents(chunk, lastRow, lastRow + 1, plan.lsn, context.identity)[0]!, confirmed };
      // Done with the rows' text: let it go now. References to the chunk linger
      // (a suspended async function keeps the values of its registers, and the
      // reader's waits for its next read), and with 8 readers those doubled the
      // time rows lived, enough for the collector to promote 40% of them.
      chunk.read.texts.length = 0;
      if (context.stopRequested()) return; // the held row's chunk is not confirmed: it is read again
    }
    if (held !== undefined) {
      held.event.source.snapshot = 'last';
      const result = context.transforms([held.event], undefined);
      const batch = context.makeBatch(result.events, result.deadLetters, inOrder.add(held.confirmed));
      if (batch) yield batch;
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
 * What a chunk's confirmation saves, taken out of the chunk: the callback waits
 * in the ack tracker until the sink confirms, and capturing the chunk itself
 * kept its rows' text alive that long (a dozen 2,000-row chunks with the file
 * sink's fsyncs in flight: 20 MB of the heap's live set, which V8 then let the
 * heap grow to two or three times).
 */
function chunkConfirmation(chunk: SnapshotChunk, then: () => void): () => void {
  const { progress, tableProgress, lastKey, done } = chunk;
  const rows = chunk.read.texts.length;
  return () => {
    // Confirms come in the order chunks were handed out, and one unit's chunks in key order.
    // A range's rows count for its table too (the table's `rows` is their sum).
    progress.after = lastKey;
    progress.rows += rows;
    if (tableProgress !== progress) tableProgress.rows += rows;
    if (done) markDone({ progress, tableProgress });
    then();
  };
}

/**
 * Rows per batch when a chunk is handed out: small enough that a slice's events
 * are serialized while they are still in the CPU's caches and mostly die young
 * (a 2,000-row chunk's events, about 6 MB, were copied by the collector), large
 * enough that a batch's fixed costs do not count.
 */
export const SNAPSHOT_SLICE_ROWS = 250;

/** A chunk's last row, as its event, with the confirmation of its chunk. */
interface HeldRow {
  event: ChangeEvent;
  confirmed: () => void;
}

/** Rows from..to of a chunk as `r` events, after `first` when there is one. */
function snapshotEvents(chunk: SnapshotChunk, from: number, to: number, lsn: Lsn, identity: SourceIdentity, first?: ChangeEvent): ChangeEvent[] {
  const { table, read } = chunk;
  const offset = first === undefined ? 0 : 1;
  const events = new Array<ChangeEvent>(to - from + offset);
  if (first !== undefined) events[0] = first;
  for (let i = from; i < to; i++) {
    const { row, key } = read.convert(i);
    events[i - from + offset] = buildSnapshotEvent(identity, table.schema, table.table, row, key, lsn, chunk.readMs, 'true', read.columns, table.byPosition);
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
