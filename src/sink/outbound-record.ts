/**
 * What a sink delivers: topic (subject, stream key, routing key, file), key,
 * headers and value, derived from an event. Defaults follow Debezium: topic
 * `{prefix}.{schema}.{table}`, key = the row's primary key as JSON, value = the
 * Debezium envelope. Outbox records (routed by the outbox router) bring their
 * own topic, key, headers and value (the payload).
 */
import type { ChangeEvent } from '../events/change-event.ts';
import { eventMeta } from '../events/event-builder.ts';

export interface OutboundRecord {
  /** The event's deterministic id: the deduplication key (Nats-Msg-Id, message_id, ...). */
  id: string;
  topic: string;
  key: string | null;
  headers: Record<string, string>;
  /** The value as JSON text. */
  value: string;
  event: ChangeEvent;
}

export interface TopicNaming {
  /** Debezium's topic.prefix (the source name). */
  prefix: string;
  /** Template for table events: {prefix}, {schema}, {table}. */
  tableTopic: string;
  /** Template for logical decoding messages: {prefix}, {message_prefix}. */
  messageTopic: string;
}

export const DEBEZIUM_TOPICS: TopicNaming = { prefix: 'pgcdc', tableTopic: '{prefix}.{schema}.{table}', messageTopic: '{prefix}.message' };

export function toRecord(event: ChangeEvent, naming: TopicNaming): OutboundRecord {
  const meta = eventMeta(event);
  const route = meta?.route;
  if (route !== undefined) {
    return { id: event.id, topic: route.topic, key: route.key, headers: route.headers, value: JSON.stringify(route.value), event };
  }
  const topic = event.op === 'm'
    ? naming.messageTopic.replaceAll('{prefix}', naming.prefix).replaceAll('{message_prefix}', event.message!.prefix)
    : naming.tableTopic.replaceAll('{prefix}', naming.prefix).replaceAll('{schema}', event.source.schema).replaceAll('{table}', event.source.table);
  const key = meta?.key ? JSON.stringify(meta.key) : null;
  return { id: event.id, topic, key, headers: {}, value: JSON.stringify(event), event };
}
