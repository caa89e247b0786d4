/**
 * Group commit on the read side: the stream's batches, each prepared for the
 * sink as soon as it is read, in groups made of the next batch plus every batch
 * already available right now (up to a size), never waiting for more data.
 */
import type { EventBatch } from '../engine/change-stream.ts';
import type { EncodedBatch } from '../sink/sink.ts';
import type { OutboundRecord } from '../sink/outbound-record.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { RecordTally } from '../observe/metrics.ts';
import type { TailSample } from '../observe/live-tail.ts';

/** A stream batch prepared for the sink (see `Pipeline.prepare`). */
export interface PreparedBatch {
  confirm: () => void;
  /** Rejected by transforms: written as dead letters before the batch is confirmed. */
  deadLetters: DeadLetter[];
  /** Events in the batch: records written or refused. */
  count: number;
  /** For sinks that do not encode ahead. */
  records: OutboundRecord[] | undefined;
  /** For sinks that do: the bytes, and what they carry (metrics). */
  encoded: EncodedBatch | undefined;
  tally: RecordTally | undefined;
  /** How many records the sink had refused when `tally` was counted (it may refuse more while writing). */
  refusedWhenPrepared: number;
  /** What the console's live tail kept of it (undefined with nobody watching). */
  sample: TailSample | undefined;
}

const NOT_READY = Symbol('not ready');

/**
 * A result's batch, and the result let go of it. The result stays reachable
 * until the check phase (through the Promise.race against setImmediate that
 * found it ready), and a burst of ready batches would otherwise keep all their
 * events alive that long: long enough to be copied by the collector.
 */
function take(result: IteratorYieldResult<EventBatch>): EventBatch {
  const batch = result.value;
  (result as { value: EventBatch | undefined }).value = undefined;
  return batch;
}

/**
 * Yields the stream's batches, each prepared as soon as it is read, in groups:
 * each group is the next batch plus every batch already available right now (up
 * to `maxEvents`), never waiting for more.
 */
export async function* readyGroups(stream: AsyncIterable<EventBatch>, maxEvents: number, prepare: (batch: EventBatch) => PreparedBatch): AsyncGenerator<PreparedBatch[]> {
  const iterator = stream[Symbol.asyncIterator]();
  // Each outstanding next() gets a no-op handler: if the consumer stops (a sink
  // error) while one is pending, its later rejection must not crash the process.
  const next = () => {
    const promise = iterator.next();
    promise.catch(() => undefined);
    return promise;
  };
  let pending = next();
  try {
    for (;;) {
      const first = await pending;
      if (first.done) return;
      const firstBatch = take(first);
      const group = [prepare(firstBatch)];
      let events = firstBatch.events.length;
      pending = next();
      let ended = false;
      while (events < maxEvents) {
        const ready = await Promise.race([pending, new Promise<typeof NOT_READY>((resolve) => setImmediate(() => resolve(NOT_READY)))]);
        if (ready === NOT_READY) break;
        if (ready.done) { ended = true; break; }
        const batch = take(ready);
        group.push(prepare(batch));
        events += batch.events.length;
        pending = next();
      }
      yield group;
      if (ended) return;
    }
  } finally {
    await iterator.return?.();
  }
}
