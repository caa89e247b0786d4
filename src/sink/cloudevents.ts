/**
 * CloudEvents 1.0 (https://github.com/cloudevents/spec) for records:
 * - structured: the value is the CloudEvent as JSON, data inside;
 * - binary: the value is the data, the attributes go into headers as `ce_<name>`
 *   (NATS headers, Redis fields, HTTP records' headers).
 * `id` is the event's deterministic id; `type` is the outbox type when the record
 * is an outbox record that has one, else `io.pgcdc.change.<op>`
 * (`io.pgcdc.message` for logical decoding messages); `source` names the database
 * and source (`/pgcdc/<name>/<db>`); `subject` is `schema.table` (or the outbox
 * aggregate id); `time` is the commit time.
 */
import { toConnectRecord } from './connect-record.ts';
import type { OutboundRecord } from './outbound-record.ts';

export type Envelope = 'debezium' | 'debezium-connect' | 'cloudevents-structured' | 'cloudevents-binary';

const OPERATION_NAMES: Record<string, string> = { c: 'create', u: 'update', d: 'delete', t: 'truncate', r: 'read', m: 'message' };

export function cloudEventAttributes(record: OutboundRecord): Record<string, string> {
  const event = record.event;
  const outboxType = record.headers.type;
  const isOutbox = record.headers.message_id !== undefined;
  const attributes: Record<string, string> = {
    specversion: '1.0',
    id: record.id,
    source: `/pgcdc/${event.source.name}/${event.source.db}`,
    type: isOutbox ? outboxType ?? `io.pgcdc.outbox.${record.topic}` : event.op === 'm' ? 'io.pgcdc.message' : `io.pgcdc.change.${OPERATION_NAMES[event.op] ?? event.op}`,
    datacontenttype: 'application/json',
  };
  const subject = isOutbox ? record.key : event.op === 'm' ? event.message!.prefix : `${event.source.schema}.${event.source.table}`;
  if (subject) attributes.subject = subject;
  if (event.source.ts_ms !== null) attributes.time = new Date(event.source.ts_ms).toISOString();
  return attributes;
}

/** Re-shapes a record for the envelope. Debezium records pass unchanged; `prefix` is the source name (topic.prefix). */
export function applyEnvelope(record: OutboundRecord, envelope: Envelope, prefix: string): OutboundRecord {
  if (envelope === 'debezium') return record;
  if (envelope === 'debezium-connect') return toConnectRecord(record, prefix);
  const attributes = cloudEventAttributes(record);
  if (envelope === 'cloudevents-binary') {
    const headers = { ...record.headers };
    for (const [name, value] of Object.entries(attributes)) headers[`ce_${name}`] = value;
    return { ...record, headers };
  }
  const head = JSON.stringify(attributes);
  return { ...record, value: `${head.slice(0, -1)},"data":${record.value}}` };
}
