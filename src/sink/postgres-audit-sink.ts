/**
 * PostgreSQL as an audit trail: every event appended to a table (created when
 * missing) as jsonb, with indexed columns for table, key, operation, commit
 * time and audit data. Each write is one transaction, confirmed only once
 * committed. The event id is the primary key: a re-delivered event is a no-op
 * (ON CONFLICT DO NOTHING). A lost connection is opened again by the retry.
 *
 * A batch is encoded when it is prepared (sink.ts, `EncodingSink`): its rows
 * as one JSON array in jsonb's binary input form, the one parameter of one
 * INSERT. Its records are not kept while it waits for the database (the
 * slowest of the sinks: the server parses every event as jsonb and indexes
 * it), so they die young; held as objects until the INSERT returned, they
 * were promoted and made a quarter of the sink's CPU garbage collection
 * (docs/benchmarks.md).
 *
 * A batch the database refuses for the data of an event (a user's CHECK, a
 * `\u0000` that jsonb does not take) is inserted again row by row behind
 * savepoints: only the refused rows become dead letters, each rebuilt from its
 * row (the event's exact JSON, its key), or, when the row could not be read
 * back into its record (a routed or re-enveloped record), with the record kept
 * for it. A missing table, column or privilege stops the pipeline.
 */
import type pg from 'pg';
import { attachEventMeta, eventMeta } from '../events/event-builder.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { jsonText, parseJsonExact, stringifyExact, type JsonObject } from '../core/json.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { OutboundRecord } from './outbound-record.ts';
import { releaseWritten, SinkError, type EncodedBatch, type EncodingSink, type SinkResult } from './sink.ts';
import { isDataProblem, qualifiedTable, refusalReason, SinkConnection } from './postgres-sink-sql.ts';
import { parseMessage, runWithBinaryParameters } from './binary-parameter-statement.ts';

export interface PostgresAuditSinkOptions {
  url: string;
  /** The table (schema.table). */
  table: string;
  /** The event field holding audit context. */
  auditField: string;
  /**
   * A record's value is its event as JSON (the Debezium envelope, not CloudEvents
   * or Connect's): the `event` column takes that text as it is rather than
   * serializing the event a second time.
   */
  valueIsEvent?: boolean;
}

/** A batch's rows, encoded: `[row,row,…]` after jsonb's version byte. */
export interface AuditBatch extends EncodedBatch {
  /** Refused rows are added while writing (isolate). */
  rejected: SinkResult['rejected'];
  /** Where row i's JSON ends in `bytes` (at the `,` or `]` after it); it starts one byte after row i - 1's end. */
  readonly rowEnds: Uint32Array;
  /** Where row i's `event` member's value starts (it runs to the row's closing brace). */
  readonly eventStarts: Uint32Array;
  /** By row, the records a row cannot be read back into (the value is not the event); undefined when there are none. */
  readonly kept: Array<OutboundRecord | undefined> | undefined;
}

/** jsonb's binary input (jsonb_recv): a version byte, 1, then the document's text. pg sends a Buffer parameter in binary. */
const JSONB_BINARY_VERSION = 1;
const JSONB_OID = 3802;
/** The version byte and the array's `[`. */
const FIRST_ROW = 2;
const EMPTY = Buffer.alloc(0);

export class PostgresAuditSink implements EncodingSink<AuditBatch> {
  readonly name: string;
  private readonly options: PostgresAuditSinkOptions;
  /** The INSERT's Parse message: every batch is its one jsonb parameter. */
  private readonly insert: Buffer;
  private readonly connection: SinkConnection;
  private opened = false;
  private lastSchema: string | undefined;
  private lastTable: string | undefined;
  private lastTableFields = '';

  constructor(options: PostgresAuditSinkOptions) {
    this.options = options;
    this.name = `postgres audit ${new URL(options.url).host}`;
    this.connection = new SinkConnection(options.url);
    this.insert = parseMessage(`INSERT INTO ${qualifiedTable(options.table)} (id, source_schema, source_table, op, key, commit_time, tx_id, audit, event)
       SELECT r.id, r.source_schema, r.source_table, r.op, r.key, r.commit_time, r.tx_id, r.audit, r.event
         FROM jsonb_to_recordset($1::jsonb) AS r(id text, source_schema text, source_table text, op text, key jsonb,
              commit_time timestamptz, tx_id bigint, audit jsonb, event jsonb)
       ON CONFLICT (id) DO NOTHING`, JSONB_OID);
  }

  async open(): Promise<void> {
    const client = await this.connection.get();
    this.opened = true;
    try {
      const table = qualifiedTable(this.options.table);
      const base = this.options.table.replace(/\W/g, '_');
      await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
        id text PRIMARY KEY,
        source_schema text NOT NULL,
        source_table text NOT NULL,
        op char(1) NOT NULL,
        key jsonb,
        commit_time timestamptz,
        tx_id bigint,
        audit jsonb,
        event jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now())`);
      await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${base}_table_idx`)} ON ${table} (source_schema, source_table, commit_time)`);
      await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${base}_key_idx`)} ON ${table} USING gin (key)`);
      await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${base}_audit_idx`)} ON ${table} USING gin (audit)`);
    } catch (error) {
      throw this.connection.failed(error, 'cannot prepare the sink table');
    }
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    const batch = this.encode(records);
    await this.writeEncoded([batch]);
    // Only after a write that ended well: after a failure the socket may still hold a view of the bytes.
    releaseWritten([batch]);
    return { rejected: batch.rejected };
  }

  /**
   * The rows as one JSON array, each row's event spliced in as text: the
   * record's value when it is the event (most records), else serialized here.
   * Written straight into bytes sent in jsonb's binary form: a string of the
   * whole batch was built, flattened and then encoded by pg, a tenth of this
   * sink's CPU in a profile. The fields are written one by one, as
   * JSON.stringify of the row object wrote them (a test compares the two).
   */
  encode(records: OutboundRecord[]): AuditBatch {
    let estimate = FIRST_ROW + 1;
    for (const record of records) estimate += record.value.length + 300;
    // Pooled (buffer-pool.ts): given back once the pipeline confirmed the write (the server has read it by then).
    const out = new ByteWriter(estimate, { pooled: true });
    const rowEnds = new Uint32Array(records.length);
    const eventStarts = new Uint32Array(records.length);
    let kept: Array<OutboundRecord | undefined> | undefined;
    out.uint8(JSONB_BINARY_VERSION);
    out.ascii('[');
    // A transaction's events share their commit time: its ISO text is made once.
    let lastMs: number | null | undefined;
    let lastIso = 'null';
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const e = record.event;
      const meta = eventMeta(e);
      // The record's value and key are the event's own JSON unless the record was
      // routed (outbox) or re-enveloped (CloudEvents, Connect): then serialized
      // here, and the record is kept, since its row cannot give it back.
      const asIs = this.options.valueIsEvent === true && meta?.route === undefined;
      if (!asIs) (kept ??= new Array<OutboundRecord | undefined>(records.length))[i] = record;
      const ms = e.source.ts_ms;
      if (ms !== lastMs) {
        lastMs = ms;
        lastIso = ms === null ? 'null' : `"${new Date(ms).toISOString()}"`;
      }
      if (i > 0) out.ascii(',');
      out.ascii('{"id":');
      out.utf8(JSON.stringify(e.id));
      out.ascii(',');
      out.utf8(this.tableFields(e.source.schema, e.op === 'm' ? `message:${e.message!.prefix}` : e.source.table));
      out.ascii(',"op":');
      out.utf8(JSON.stringify(e.op));
      out.ascii(',"key":');
      out.utf8(asIs ? record.key ?? 'null' : JSON.stringify(meta?.key ?? null));
      out.ascii(',"commit_time":');
      out.ascii(lastIso);
      out.ascii(',"tx_id":');
      out.ascii(e.source.txId === null ? 'null' : String(e.source.txId));
      out.ascii(',"audit":');
      const audit = e[this.options.auditField];
      out.utf8(audit === undefined || audit === null ? 'null' : JSON.stringify(audit));
      out.ascii(',"event":');
      eventStarts[i] = out.length;
      out.utf8(asIs ? record.value : stringifyExact(e));
      out.ascii('}');
      rowEnds[i] = out.length;
    }
    out.ascii(']');
    return { bytes: records.length > 0 ? out.finish() : EMPTY, count: records.length, rejected: [], rowEnds, eventStarts, kept };
  }

  /**
   * Every batch's INSERT in one round trip, one implicit transaction committed
   * at its Sync (binary-parameter-statement.ts): the write is confirmed only
   * once it is committed, and a failure leaves none of it.
   */
  async writeEncoded(batches: AuditBatch[]): Promise<void> {
    if (!this.opened) throw new SinkError('PostgreSQL sink is not open', { retriable: true });
    // A retry starts afresh: rows refused in a failed attempt were rolled back with it (nothing is refused while encoding).
    for (const batch of batches) batch.rejected.length = 0;
    const documents = batches.filter((b) => b.count > 0).map((b) => b.bytes);
    if (documents.length === 0) return;
    const client = await this.connection.get();
    try {
      await runWithBinaryParameters(client, this.insert, documents);
      return;
    } catch (error) {
      if (!isDataProblem(error)) throw this.connection.failed(error);
    }
    await this.isolate(client, batches);
  }

  /**
   * The database refused the write for the data of some row (a value jsonb
   * does not take, a CHECK the user added): each row again, alone, behind a
   * savepoint, so only the refused ones become dead letters (with the
   * database's reason) and the others are inserted, in order, in one transaction.
   */
  private async isolate(client: pg.Client, batches: AuditBatch[]): Promise<void> {
    try {
      await client.query('BEGIN');
      for (const batch of batches) {
        for (let i = 0; i < batch.count; i++) {
          await client.query('SAVEPOINT pgcdc_event');
          try {
            await runWithBinaryParameters(client, this.insert, [oneRow(batch, i)]);
            await client.query('RELEASE SAVEPOINT pgcdc_event');
          } catch (error) {
            await client.query('ROLLBACK TO SAVEPOINT pgcdc_event');
            if (!isDataProblem(error)) throw error;
            batch.rejected.push({ record: recordOf(batch, i), reason: refusalReason(error) });
          }
        }
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      for (const batch of batches) batch.rejected.length = 0;
      throw this.connection.failed(error);
    }
  }

  /** `"source_schema":…,"source_table":…` for a table, made once for a run of its events. */
  private tableFields(schema: string, table: string): string {
    if (schema !== this.lastSchema || table !== this.lastTable) {
      this.lastSchema = schema;
      this.lastTable = table;
      this.lastTableFields = `"source_schema":${JSON.stringify(schema)},"source_table":${JSON.stringify(table)}`;
    }
    return this.lastTableFields;
  }

  async close(): Promise<void> {
    this.opened = false;
    await this.connection.close();
  }
}

function rowStart(batch: AuditBatch, i: number): number {
  return i === 0 ? FIRST_ROW : batch.rowEnds[i - 1]! + 1;
}

/** Row i alone, as the parameter of the same INSERT: `[row]` after jsonb's version byte. */
function oneRow(batch: AuditBatch, i: number): Buffer {
  const start = rowStart(batch, i);
  const end = batch.rowEnds[i]!;
  const row = Buffer.allocUnsafe(end - start + 3);
  row[0] = JSONB_BINARY_VERSION;
  row[1] = 0x5b; // [
  batch.bytes.copy(row, 2, start, end);
  row[row.length - 1] = 0x5d; // ]
  return row;
}

/**
 * The record of a refused row, for its dead letter. Read back from the row
 * unless it was kept: the event is its exact JSON (json values keep their
 * text, as `jsonText` keeps them), frozen, with its key as the stream attached
 * it. The audit table has no topic, so the record names none.
 */
function recordOf(batch: AuditBatch, i: number): OutboundRecord {
  const kept = batch.kept?.[i];
  if (kept !== undefined) return kept;
  const start = rowStart(batch, i);
  const eventStart = batch.eventStarts[i]!;
  const value = batch.bytes.toString('utf8', eventStart, batch.rowEnds[i]! - 1);
  // The row up to its event, closed with a null event: its id and key.
  const head = parseJsonExact(`${batch.bytes.toString('utf8', start, eventStart)}null}`) as { id: string; key: JsonObject | null };
  const event = jsonText(value, (parsed) => attachEventMeta(parsed as ChangeEvent, { key: head.key, commitLsn: undefined, lsn: undefined })) as unknown as ChangeEvent;
  return { id: head.id, topic: '', key: head.key === null ? null : stringifyExact(head.key), headers: {}, value, event };
}
