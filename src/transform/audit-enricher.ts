/**
 * Audit context: a transactional message with prefix `audit` carries who made a
 * transaction's changes (user, client IP, use case). Its JSON content is attached,
 * as `auditData`, to every change event of the same transaction, including
 * changes made before the message (the transaction's messages are known before
 * its first event is handled). Several audit messages in one transaction merge,
 * later keys winning. The audit message itself is not delivered unless asked.
 *
 * Transactions without one pass unchanged, except for tables listed in
 * `requireFor`: their changes are dead-lettered, so unaudited writes are seen.
 */
import { parseJsonb, type JsonObject, type JsonValue } from '../core/json.ts';
import type { Transform, TransactionScope } from './transform.ts';

export interface AuditOptions {
  prefix?: string;
  /** Top-level event field for the metadata (default `auditData`). */
  field?: string;
  /** Also deliver the audit messages themselves (default false). */
  deliverMessages?: boolean;
  /** Tables (`schema.table`) whose changes must carry audit context. */
  requireFor?: string[];
}

type AuditState = { data: JsonValue } | { error: string } | undefined;

export function auditEnricher(options: AuditOptions = {}): Transform {
  const prefix = options.prefix ?? 'audit';
  const field = options.field ?? 'auditData';
  const required = new Set(options.requireFor ?? []);
  const cache = new WeakMap<TransactionScope, AuditState>();
  const auditOf = (scope: TransactionScope): AuditState => {
    if (cache.has(scope)) return cache.get(scope);
    let state: AuditState;
    for (const message of scope.messages) {
      if (message.prefix !== prefix) continue;
      try {
        // As a jsonb value is read: a key like "10" (which a parsed object would move first) keeps the text's order.
        const value = message.encoding === 'utf8' ? parseJsonb(message.content) : message.content;
        const previous = state && 'data' in state ? state.data : undefined;
        state = { data: isObject(previous) && isObject(value) ? { ...previous, ...value } : value };
      } catch (error) {
        state = { error: `audit message is not JSON: ${(error as Error).message}` };
      }
    }
    cache.set(scope, state);
    return state;
  };
  return (event, context) => {
    if (event.op === 'm') {
      if (event.message!.prefix !== prefix || !event.message!.transactional) return event;
      const state = context.transaction ? auditOf(context.transaction) : undefined;
      if (state && 'error' in state) context.deadLetter(event, state.error);
      return options.deliverMessages ? event : null;
    }
    const state = context.transaction ? auditOf(context.transaction) : undefined;
    if (state && 'data' in state) {
      event[field] = state.data;
      return event;
    }
    if (required.size > 0 && required.has(`${event.source.schema}.${event.source.table}`)) {
      context.deadLetter(event, `no audit context in transaction ${event.source.txId}: changes to ${event.source.schema}.${event.source.table} require an '${prefix}' message`);
      return null;
    }
    return event;
  };
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
