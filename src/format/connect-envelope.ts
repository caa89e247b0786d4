/**
 * Kafka Connect's JSON form (`envelope: debezium-connect`): every record value
 * (and key) is `{"schema": …, "payload": …}`, as Kafka Connect's JsonConverter
 * writes it with `schemas.enable=true` behind Debezium's PostgreSQL connector,
 * so JDBC sinks and other Connect consumers read pgcdc's records unchanged.
 *
 * The schema of a table's events is built once per relation version (the
 * column list the Relation message, or the snapshot query, described) and
 * reused for every event of that version.
 */
import type { ColumnType } from '../core/change-types.ts';
import { isRawJson, stringifyExact, type JsonObject, type JsonValue } from '../core/json.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { eventMeta } from '../events/event-builder.ts';
import { columnEncoding, type ColumnEncoding, type ConnectField, type ConnectSchema } from './connect-types.ts';

export interface ConnectRecordParts {
  /** `{"schema":…,"payload":…}` as JSON text. */
  value: string;
  /** The key in the same form; null when the event has none. */
  key: string | null;
}

interface CompiledTable {
  columns: Array<{ name: string; encoding: ColumnEncoding }>;
  keyColumns: Array<{ name: string; encoding: ColumnEncoding }>;
  keySchemaText: string;
  envelopeSchemaText: string;
}

const STRING: ConnectSchema = { type: 'string', optional: false };
const OPTIONAL_STRING: ConnectSchema = { type: 'string', optional: true };
const INT64: ConnectSchema = { type: 'int64', optional: false };
const OPTIONAL_INT64: ConnectSchema = { type: 'int64', optional: true };
const JSON_TEXT: ConnectSchema = { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1 };

const field = (name: string, schema: ConnectSchema): ConnectField => ({ ...schema, field: name });

/** Debezium's io.debezium.connector.postgresql.Source, for the fields pgcdc's `source` has. */
const SOURCE_SCHEMA: ConnectSchema = {
  type: 'struct', optional: false, name: 'io.debezium.connector.postgresql.Source',
  fields: [
    field('version', STRING), field('connector', STRING), field('name', STRING), field('ts_ms', OPTIONAL_INT64),
    field('snapshot', { type: 'string', optional: true, name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,last,false,incremental' } }),
    field('db', STRING), field('sequence', OPTIONAL_STRING), field('schema', STRING), field('table', STRING),
    field('txId', OPTIONAL_INT64), field('lsn', OPTIONAL_INT64), field('xmin', OPTIONAL_INT64),
  ],
};

const TRANSACTION_SCHEMA: ConnectSchema = {
  type: 'struct', optional: true, name: 'event.block', version: 1,
  fields: [field('id', STRING), field('total_order', INT64), field('data_collection_order', INT64)],
};

const MESSAGE_SCHEMA_TEXT = JSON.stringify({
  type: 'struct', optional: false, name: 'io.debezium.connector.postgresql.MessageValue',
  fields: [
    field('id', STRING),
    field('op', STRING),
    field('ts_ms', OPTIONAL_INT64),
    field('source', SOURCE_SCHEMA),
    field('message', {
      type: 'struct', optional: true, name: 'io.debezium.connector.postgresql.Message',
      fields: [field('prefix', STRING), field('content', { type: 'bytes', optional: true }), field('transactional', { type: 'boolean', optional: true })],
    }),
    field('transaction', TRANSACTION_SCHEMA),
  ],
});

/** Compiled per column list (a relation version); the WeakMap lets old versions go. */
const compiled = new WeakMap<readonly ColumnType[], Map<string, CompiledTable>>();

function compile(prefix: string, event: ChangeEvent, columns: readonly ColumnType[], key: JsonObject | null): CompiledTable {
  const base = `${prefix}.${event.source.schema}.${event.source.table}`;
  let byName = compiled.get(columns);
  const cached = byName?.get(base);
  if (cached !== undefined) return cached;
  const keyNames = new Set(key === null ? [] : Object.keys(key));
  const encoded = columns.map((c) => ({ name: c.name, encoding: columnEncoding(c.typeOid, c.typeModifier) }));
  // pgoutput does not say which columns are NOT NULL: key columns are required, the others optional.
  const valueFields = encoded.map((c) => field(c.name, { ...c.encoding.schema, optional: !keyNames.has(c.name) }));
  const rowSchema = (optional: boolean): ConnectSchema => ({ type: 'struct', optional, name: `${base}.Value`, fields: valueFields });
  const table: CompiledTable = {
    columns: encoded,
    keyColumns: encoded.filter((c) => keyNames.has(c.name)),
    keySchemaText: JSON.stringify({ type: 'struct', optional: false, name: `${base}.Key`, fields: valueFields.filter((f) => keyNames.has(f.field)) }),
    envelopeSchemaText: JSON.stringify({
      type: 'struct', optional: false, name: `${base}.Envelope`, version: 1,
      fields: [
        field('id', STRING),
        field('before', rowSchema(true)),
        field('after', rowSchema(true)),
        field('source', SOURCE_SCHEMA),
        field('transaction', TRANSACTION_SCHEMA),
        field('op', STRING),
        field('ts_ms', OPTIONAL_INT64),
      ],
    }),
  };
  if (byName === undefined) compiled.set(columns, byName = new Map());
  byName.set(base, table);
  return table;
}

/** Columns for events whose source gave no types (files read with `pgcdc read`): taken from the values. */
function columnsFromValues(event: ChangeEvent): ColumnType[] {
  const row = event.after ?? event.before ?? {};
  return Object.entries(row).map(([name, value]) => ({ name, typeOid: typeFromValue(value), typeModifier: -1 }));
}

function typeFromValue(value: JsonValue): number {
  if (typeof value === 'boolean') return 16;
  if (typeof value === 'number') return Number.isInteger(value) ? 20 : 701;
  if (isRawJson(value)) return /^-?\d+$/.test(value.rawJSON) ? 20 : 701;
  return 25;
}

function encodeRow(columns: CompiledTable['columns'], row: JsonObject | null | undefined): JsonObject | null {
  if (row === null || row === undefined) return null;
  const out: JsonObject = {};
  for (const { name, encoding } of columns) {
    const value = row[name];
    out[name] = value === null || value === undefined ? null : encoding.encode(value);
  }
  return out;
}

/** Fields transforms added (an audit context, …): JSON text, typed io.debezium.data.Json. */
const ENVELOPE_FIELDS = new Set(['id', 'op', 'before', 'after', 'message', 'source', 'ts_ms', 'transaction']);

/** Schemas with the extra fields added, per base schema and list of extras: built once, not per event (audit data rides on every event). */
const schemasWithExtras = new Map<string, Map<string, string>>();

function withExtras(schemaText: string, event: ChangeEvent, payload: JsonObject): { schemaText: string; payload: JsonObject } {
  const extras = Object.keys(event).filter((k) => !ENVELOPE_FIELDS.has(k));
  if (extras.length === 0) return { schemaText, payload };
  for (const name of extras) {
    const value = event[name] as JsonValue | undefined;
    payload[name] = value === undefined || value === null ? null : typeof value === 'string' ? value : stringifyExact(value);
  }
  let byExtras = schemasWithExtras.get(schemaText);
  if (byExtras === undefined) schemasWithExtras.set(schemaText, byExtras = new Map());
  const names = extras.join('\u0000');
  let text = byExtras.get(names);
  if (text === undefined) {
    const schema = JSON.parse(schemaText) as { fields: ConnectField[] };
    for (const name of extras) schema.fields.push(field(name, JSON_TEXT));
    byExtras.set(names, text = JSON.stringify(schema));
  }
  return { schemaText: text, payload };
}

/** The Connect form of a table change or message event; `prefix` is the source name (Debezium's topic.prefix). */
export function connectRecordParts(event: ChangeEvent, prefix: string): ConnectRecordParts {
  const header = { id: event.id, op: event.op };
  if (event.op === 'm') {
    const message = event.message!;
    const content = Buffer.from(message.content, message.encoding === 'base64' ? 'base64' : 'utf8').toString('base64');
    const payload: JsonObject = { ...header, ts_ms: event.ts_ms, source: event.source as unknown as JsonObject, message: { prefix: message.prefix, content, transactional: message.transactional }, transaction: event.transaction as unknown as JsonValue };
    const parts = withExtras(MESSAGE_SCHEMA_TEXT, event, payload);
    return { value: `{"schema":${parts.schemaText},"payload":${stringifyExact(parts.payload)}}`, key: null };
  }
  const meta = eventMeta(event);
  const key = meta?.key ?? null;
  const table = compile(prefix, event, meta?.columns ?? columnsFromValues(event), key);
  const payload: JsonObject = {
    ...header,
    before: encodeRow(table.columns, event.before),
    after: encodeRow(table.columns, event.after),
    source: event.source as unknown as JsonObject,
    transaction: event.transaction as unknown as JsonValue,
    ts_ms: event.ts_ms,
  };
  // Payload fields in the schema's order, so that the JSON reads as Debezium's does.
  const ordered: JsonObject = { id: payload.id!, before: payload.before!, after: payload.after!, source: payload.source!, transaction: payload.transaction!, op: payload.op!, ts_ms: payload.ts_ms! };
  const parts = withExtras(table.envelopeSchemaText, event, ordered);
  return {
    value: `{"schema":${parts.schemaText},"payload":${stringifyExact(parts.payload)}}`,
    key: key === null ? null : `{"schema":${table.keySchemaText},"payload":${stringifyExact(encodeRow(table.keyColumns, key))}}`,
  };
}
