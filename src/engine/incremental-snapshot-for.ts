/** A change stream's incremental snapshots: made from its options, and a chunk's rows turned into batches. */
import type { Lsn } from '../core/lsn.ts';
import type { ValueConverter } from '../decode/values/convert.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import type { SourceIdentity } from '../events/event-builder.ts';
import { ConfirmInOrder } from '../snapshot/confirm-in-order.ts';
import { SNAPSHOT_SLICE_ROWS } from '../snapshot/initial-snapshot-batches.ts';
import { IncrementalSnapshot, type ChunkEvents, type IncrementalState } from '../snapshot/incremental-snapshot.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { TransformChain } from '../transform/transform-chain.ts';
import { incrementalStateFileFor, SnapshotStateFile } from '../snapshot/snapshot-state.ts';
import type { ChangeStreamOptions, EventBatch } from './change-stream-types.ts';
import type { PreparedSource } from './prepare-source.ts';

/** Undefined when signals are off. */
export function incrementalSnapshotFor(init: PreparedSource & { options: ChangeStreamOptions }, identity: SourceIdentity, converter: ValueConverter): IncrementalSnapshot | undefined {
  const snapshotOptions = init.options.snapshot;
  if (snapshotOptions?.signals === false) return undefined;
  return new IncrementalSnapshot({
    slot: init.slot,
    publication: init.publication,
    serverVersionNum: init.server.versionNum,
    chunkSize: snapshotOptions?.incrementalChunkSize ?? 1024,
    ...(snapshotOptions?.keys ? { keys: snapshotOptions.keys } : {}),
    identity,
    converter,
    openSql: init.openSql,
    // Watermarks are non-transactional messages: written at once, whatever the session does.
    emitMessage: async (prefix, content) => { await init.sql.query('SELECT pg_logical_emit_message(false, $1, $2)', [prefix, content]); },
    stateFile: snapshotOptions?.stateFile ? new SnapshotStateFile<IncrementalState>(incrementalStateFileFor(snapshotOptions.stateFile)) : undefined,
    onNotice: (message) => init.options.onNotice?.(message),
    ...(snapshotOptions?.onIncrementalProgress ? { onProgress: snapshotOptions.onIncrementalProgress } : {}),
  });
}

/**
 * A chunk's rows, at its high watermark, as batches of one slice each:
 * acknowledged like the events around them (the watermark's position on the
 * last slice only), and the chunk's progress saved once every slice is
 * confirmed, in order (a slice the transforms emptied is confirmed at once).
 */
export function* incrementalChunkBatches(
  chunk: ChunkEvents,
  ackLsn: Lsn | undefined,
  transforms: TransformChain,
  makeBatch: (events: ChangeEvent[], deadLetters: DeadLetter[], endLsn: Lsn | undefined, onConfirmed: () => void) => EventBatch | undefined,
): Generator<EventBatch> {
  const inOrder = new ConfirmInOrder();
  for (let from = 0; from === 0 || from < chunk.rows; from += SNAPSHOT_SLICE_ROWS) {
    const to = Math.min(chunk.rows, from + SNAPSHOT_SLICE_ROWS);
    const last = to >= chunk.rows;
    const result = transforms(chunk.build(from, to), undefined);
    const batch = makeBatch(result.events, result.deadLetters, last ? ackLsn : undefined, inOrder.add(last ? chunk.onConfirmed : undefined));
    if (batch) yield batch;
  }
}
