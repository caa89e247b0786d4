/**
 * A stream batch turned into what the sink takes: records, or for sinks that
 * encode ahead, their bytes and a tally for the metrics. The batch's events are
 * not kept (what waits for the sink should be small: sink.ts, `EncodedBatch`);
 * only the few records the console's live tail sampled, if anyone watches.
 */
import type { EventBatch } from '../engine/change-stream.ts';
import { applyEnvelope } from '../sink/cloudevents.ts';
import { toRecord, type OutboundRecord, type TopicNaming } from '../sink/outbound-record.ts';
import type { EncodingSink } from '../sink/sink.ts';
import { tallyAccepted } from '../observe/metrics.ts';
import type { LiveTail } from '../observe/live-tail.ts';
import type { PipelineConfig } from '../config/schema.ts';
import type { PreparedBatch } from './ready-groups.ts';

export interface BatchPreparation {
  name: string;
  naming: TopicNaming;
  envelope: PipelineConfig['envelope'];
  encoder: EncodingSink | undefined;
  tail: LiveTail | undefined;
}

export function prepareBatch(batch: Pick<EventBatch, 'events' | 'deadLetters' | 'confirm'>, how: BatchPreparation): PreparedBatch {
  const events = batch.events;
  const records = new Array<OutboundRecord>(events.length);
  for (let i = 0; i < events.length; i++) records[i] = applyEnvelope(toRecord(events[i]!, how.naming), how.envelope, how.naming.prefix);
  const prepared = { confirm: batch.confirm, deadLetters: batch.deadLetters, count: records.length, sample: how.tail?.sample(how.name, records) };
  if (how.encoder === undefined) return { ...prepared, records, encoded: undefined, tally: undefined, refusedWhenPrepared: 0 };
  const encoded = how.encoder.encode(records);
  return { ...prepared, records: undefined, encoded, tally: tallyAccepted(records, encoded.rejected), refusedWhenPrepared: encoded.rejected.length };
}
