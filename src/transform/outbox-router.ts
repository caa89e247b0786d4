/**
 * Outbox routing, for both kinds of outbox:
 *
 * - logical decoding messages with prefix `outbox` whose JSON content is
 *   {id, aggregate_type, aggregate_id, payload, type?};
 * - inserts into a classic outbox table with Debezium's Outbox Event Router
 *   columns (id, aggregatetype, aggregateid, type, payload); deletes (the usual
 *   clean-up) are dropped, updates are dead-lettered (an outbox is append-only).
 *
 * Both become the same record: topic from the aggregate type (template, default
 * `{aggregate_type}`), key = aggregate id, headers `message_id` = id and `type`
 * when present, value = the payload. Consumers cannot tell which kind produced it.
 * Malformed content is dead-lettered with the reason; the rest flows on.
 */
import { jsonText, memberText, parseJsonExact, parseJsonExactNotingIndexKeys, type JsonObject, type JsonValue } from '../core/json.ts';
import type { ChangeEvent, Route } from '../events/change-event.ts';
import { setRoute } from '../events/event-builder.ts';
import type { Transform } from './transform.ts';

export interface OutboxOptions {
  /** Message prefix of outbox messages (default `outbox`). */
  prefix?: string;
  /** Topic template: `{aggregate_type}` (default), e.g. `outbox.event.{aggregate_type}`. */
  topicTemplate?: string;
  /** Outbox tables (`schema.table`) routed like messages; none by default. */
  tables?: string[];
}

export const OUTBOX_TABLE_COLUMNS = { id: 'id', aggregateType: 'aggregatetype', aggregateId: 'aggregateid', type: 'type', payload: 'payload' } as const;

interface OutboxFields {
  id: JsonValue | undefined;
  aggregateType: JsonValue | undefined;
  aggregateId: JsonValue | undefined;
  type: JsonValue | undefined;
  payload: JsonValue | undefined;
}

/** Builds the route of an outbox record, or returns the reason it cannot be routed. */
export function outboxRoute(fields: OutboxFields, topicTemplate: string): Route | string {
  const missing = (['id', 'aggregateType', 'aggregateId', 'payload'] as const).filter((f) => fields[f] === undefined || fields[f] === null);
  if (missing.length > 0) return `missing ${missing.map((f) => (f === 'aggregateType' ? 'aggregate_type' : f === 'aggregateId' ? 'aggregate_id' : f)).join(', ')}`;
  if (typeof fields.aggregateType !== 'string' || fields.aggregateType === '') return 'aggregate_type must be a non-empty string';
  if (typeof fields.id !== 'string' && typeof fields.id !== 'number') return 'id must be a string or number';
  if (typeof fields.aggregateId === 'object') return 'aggregate_id must be a string or number';
  const headers: Record<string, string> = { message_id: String(fields.id) };
  if (fields.type !== undefined && fields.type !== null) headers.type = String(fields.type);
  return {
    topic: topicTemplate.replaceAll('{aggregate_type}', fields.aggregateType),
    key: String(fields.aggregateId),
    headers,
    value: fields.payload!,
  };
}

export function outboxRouter(options: OutboxOptions = {}): Transform {
  const prefix = options.prefix ?? 'outbox';
  const template = options.topicTemplate ?? '{aggregate_type}';
  const tables = new Set(options.tables ?? []);
  return (event, context) => {
    if (event.op === 'm') {
      const message = event.message!;
      if (message.prefix !== prefix) return event;
      if (message.encoding !== 'utf8') {
        context.deadLetter(event, 'outbox message content is not JSON: content is not UTF-8 text');
        return null;
      }
      let content: JsonValue;
      let indexKey: boolean;
      try {
        ({ value: content, indexKey } = parseJsonExactNotingIndexKeys(message.content));
      } catch (error) {
        context.deadLetter(event, `outbox message content is not JSON: ${(error as Error).message}`);
        return null;
      }
      if (typeof content !== 'object' || content === null || Array.isArray(content)) {
        context.deadLetter(event, 'outbox message content must be a JSON object {id, aggregate_type, aggregate_id, payload}');
        return null;
      }
      const o = content as JsonObject;
      let payload = o.payload;
      // A payload with a key like "10" would be re-ordered by a parsed object (such keys
      // first): it keeps the text the application wrote, compacted, as a json value does.
      if (indexKey && payload !== null && typeof payload === 'object') {
        const text = memberText(message.content, 'payload');
        if (text !== undefined) payload = jsonText(text);
      }
      return routed(event, outboxRoute({ id: o.id, aggregateType: o.aggregate_type, aggregateId: o.aggregate_id, type: o.type, payload }, template), context.deadLetter);
    }
    if (tables.size === 0 || !tables.has(`${event.source.schema}.${event.source.table}`)) return event;
    if (event.op === 'd' || event.op === 't') return null; // clearing the outbox table is housekeeping, not an event
    if (event.op !== 'c') {
      context.deadLetter(event, `outbox table ${event.source.schema}.${event.source.table} changed by '${event.op}': outbox rows must only be inserted`);
      return null;
    }
    const row = event.after ?? {};
    const c = OUTBOX_TABLE_COLUMNS;
    let payload = row[c.payload];
    if (typeof payload === 'string') {
      try { payload = parseJsonExact(payload); } catch { /* a text payload stays text */ }
    }
    return routed(event, outboxRoute({ id: row[c.id], aggregateType: row[c.aggregateType], aggregateId: row[c.aggregateId], type: row[c.type], payload }, template), context.deadLetter);
  };
}

function routed(event: ChangeEvent, route: Route | string, deadLetter: (event: ChangeEvent, reason: string) => void): ChangeEvent | null {
  if (typeof route === 'string') {
    deadLetter(event, `outbox record rejected: ${route}`);
    return null;
  }
  setRoute(event, route);
  return event;
}
