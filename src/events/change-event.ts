/**
 * The change event: Debezium's envelope, so that anything reading Debezium's
 * JSON (Flink `debezium-json`, Kafka Connect sinks, ClickHouse, Materialize)
 * reads pgcdc's unchanged. docs/events.md describes every field.
 *
 * Beyond Debezium: `id` (deterministic: commit LSN and position in the
 * transaction, the deduplication key for sinks) and, on messages,
 * `message.transactional` and `message.encoding`.
 */
import type { JsonObject, JsonValue } from '../core/json.ts';
import type { ColumnType, MessageBody, Operation } from '../core/change-types.ts';

export type { MessageBody, Operation };

export interface EventSource {
  version: string;
  connector: 'postgresql';
  /** The logical name of this source (Debezium's topic.prefix). */
  name: string;
  /** Commit time of the transaction (Unix ms); null when the output plugin does not say (docs/read.md). */
  ts_ms: number | null;
  snapshot: 'true' | 'last' | 'false' | 'incremental';
  db: string;
  /** JSON array text: [last commit LSN, this change's LSN], as decimal strings. */
  sequence: string;
  schema: string;
  table: string;
  txId: number | null;
  /** The change's WAL position as a number (Debezium's form); null when the output plugin does not say. */
  lsn: number | null;
  xmin: null;
}

export interface TransactionBlock {
  /** `txId:commitLsn`, Debezium's form. */
  id: string;
  /** Position of this event among all events of its transaction, from 1. */
  total_order: number;
  /** Position among the events of the same table in its transaction, from 1. */
  data_collection_order: number;
}


export interface ChangeEvent {
  /** Deterministic id: `<commit LSN>:<position>`; `<message LSN>:0` for non-transactional messages. */
  id: string;
  op: Operation;
  before?: JsonObject | null;
  after?: JsonObject | null;
  message?: MessageBody;
  source: EventSource;
  /**
   * The commit time, as `source.ts_ms` (Unix ms), so that a re-delivered event is
   * identical; when the source gives no time (some files), when pgcdc built the
   * event. Snapshot rows: when they were read. Non-transactional messages: when
   * pgcdc first read them (the WAL holds no time for them). docs/decisions/0010.
   */
  ts_ms: number;
  transaction: TransactionBlock | null;
  /** Extra top-level fields added by transforms (e.g. `auditData`). */
  [extra: string]: unknown;
}

/**
 * Where an event sits in the stream, kept beside the event rather than in it
 * (serialised JSON holds only the envelope).
 */
/** Where an event should go, when a transform decided it (outbox records); sinks use their defaults otherwise. */
export interface Route {
  topic: string;
  key: string | null;
  headers: Record<string, string>;
  /** The record's value (for outbox records: the payload). */
  value: JsonValue;
}

export interface EventMeta {
  /** Primary key (replica identity) columns and values, or null (no key / messages). */
  key: JsonObject | null;
  /** Commit LSN of its transaction; the message LSN for non-transactional messages (undefined when unknown). */
  commitLsn: bigint | undefined;
  /** The change's own WAL position (undefined when unknown). */
  lsn: bigint | undefined;
  /** The table's columns and their types, when the source described them (pgoutput changes, snapshot rows). */
  columns?: readonly ColumnType[] | undefined;
  /** Set by the outbox router: topic, key, headers and value of the record to deliver. */
  route?: Route;
}
