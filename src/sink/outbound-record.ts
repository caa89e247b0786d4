/**
 * What a sink delivers: topic (subject, stream key, routing key, file), key,
 * headers and value, derived from an event. Defaults follow Debezium: topic
 * `{prefix}.{schema}.{table}`, key = the row's primary key as JSON, value = the
 * Debezium envelope. Outbox records (routed by the outbox router) bring their
 * own topic, key, headers and value (the payload).
 */
import type { ChangeEvent } from '../events/change-event.ts';
import { stringifyExact } from '../core/json.ts';
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
    return { id: event.id, topic: route.topic, key: route.key, headers: route.headers, value: stringifyExact(route.value), event };
  }
  const topic = event.op === 'm'
    ? naming.messageTopic.replaceAll('{prefix}', naming.prefix).replaceAll('{message_prefix}', event.message!.prefix)
    : tableTopic(naming, event.source.schema, event.source.table);
  const key = meta?.key ? stringifyExact(meta.key) : null;
  return { id: event.id, topic, key, headers: NO_HEADERS, value: stringifyExact(event), event };
}

/** Table events carry no headers: one frozen object shared by all (sinks that add headers copy them). */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Table topics by naming, schema and table: filled in once per table, not per event (a profile showed 1 µs per event). */
const tableTopics = new WeakMap<TopicNaming, Map<string, Map<string, string>>>();

/** The topic of the previous event: consecutive events are mostly of one table (a per-event lookup showed in a profile). */
let last = { naming: DEBEZIUM_TOPICS, schema: '', table: '', topic: '' };

function tableTopic(naming: TopicNaming, schema: string, table: string): string {
  if (last.table === table && last.schema === schema && last.naming === naming) return last.topic;
  let bySchema = tableTopics.get(naming);
  if (bySchema === undefined) tableTopics.set(naming, bySchema = new Map());
  let byTable = bySchema.get(schema);
  if (byTable === undefined) bySchema.set(schema, byTable = new Map());
  let topic = byTable.get(table);
  if (topic === undefined) {
    topic = naming.tableTopic.replaceAll('{prefix}', naming.prefix).replaceAll('{schema}', schema).replaceAll('{table}', table);
    byTable.set(table, topic);
  }
  last = { naming, schema, table, topic };
  return topic;
}
