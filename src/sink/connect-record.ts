/**
 * Records in Kafka Connect's JSON form (`envelope: debezium-connect`): change
 * and message events carry Debezium's schemas (format/connect-envelope.ts);
 * outbox records carry their payload as a string, or as JSON text typed
 * io.debezium.data.Json, with a string key, as Debezium's outbox event router
 * gives them to a JsonConverter with schemas enabled.
 */
import { stringifyExact } from '../core/json.ts';
import { eventMeta } from '../events/event-builder.ts';
import { connectRecordParts } from '../format/connect-envelope.ts';
import type { OutboundRecord } from './outbound-record.ts';

export function toConnectRecord(record: OutboundRecord, prefix: string): OutboundRecord {
  const route = eventMeta(record.event)?.route;
  if (route === undefined) return { ...record, ...connectRecordParts(record.event, prefix) };
  const schema = typeof route.value === 'string'
    ? '{"type":"string","optional":true}'
    : '{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1}';
  const payload = typeof route.value === 'string' ? route.value : stringifyExact(route.value);
  return {
    ...record,
    value: `{"schema":${schema},"payload":${JSON.stringify(payload)}}`,
    key: record.key === null ? null : `{"schema":{"type":"string","optional":false},"payload":${JSON.stringify(record.key)}}`,
  };
}
