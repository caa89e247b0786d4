/**
 * PostgreSQL as a sink, in one of two modes. Each batch is one transaction and
 * is confirmed only after COMMIT.
 *
 * - audit: append every event to a table (created when missing) as jsonb, with
 *   indexed columns for table, key, operation, commit time and audit data. The
 *   event id is the primary key: a re-delivered event is a no-op (ON CONFLICT DO
 *   NOTHING).
 * - mirror: apply changes to tables of the same name in the target database
 *   (which you create, with the same primary key), batched (postgres-mirror.ts).
 *
 * A batch the database refuses for the data of an event is applied again event
 * by event behind savepoints: only the refused events become dead letters. A
 * missing table, column or privilege stops the pipeline (nothing dead-lettered).
 */
import pg from 'pg';
import { eventMeta } from '../events/event-builder.ts';
import { stringifyExact } from '../core/json.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { giveBack } from '../core/buffer-pool.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink, type SinkResult } from './sink.ts';
import { MirrorWriter, type MirrorRefusal } from './postgres-mirror.ts';
import { DEFAULT_TOAST_PLACEHOLDER } from '../assemble/tuple-to-row.ts';
import { isRetriableSqlState } from '../core/sqlstate.ts';

export interface PostgresSinkOptions {
  url: string;
  mode: 'audit' | 'mirror';
  /** audit: the table (schema.table). */
  table: string;
  /** mirror: the schema of the mirror tables (default: the source's). */
  targetSchema: string | undefined;
  /** audit: the event field holding audit context. */
  auditField: string;
  /**
   * A record's value is its event as JSON (the Debezium envelope, not CloudEvents
   * or Connect's): the audit table's `event` column takes that text as it is
   * rather than serializing the event a second time.
   */
  valueIsEvent?: boolean;
}

function qualified(name: string): string {
  const [schema, table] = name.includes('.') ? name.split('.', 2) as [string, string] : ['public', name];
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export class PostgresSink implements Sink {
  readonly name: string;
  private readonly options: PostgresSinkOptions;
  private client: pg.Client | undefined;
  private readonly mirror: MirrorWriter;
  private lastSchema: string | undefined;
  private lastTable: string | undefined;
  private lastTableFields = '';

  constructor(options: PostgresSinkOptions) {
    this.options = options;
    this.mirror = new MirrorWriter(options.targetSchema, DEFAULT_TOAST_PLACEHOLDER);
    this.name = `postgres ${options.mode} ${new URL(options.url).host}`;
  }

  async open(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: 'pgcdc-sink' });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      throw new SinkError(`cannot reach the sink database: ${(error as Error).message}; check sink.url`, { retriable: true, cause: error });
    }
    this.client = client;
    try {
      await this.prepareTables(client);
    } catch (error) {
      throw sqlSinkError(error, 'cannot prepare the sink table');
    }
  }

  private async prepareTables(client: pg.Client): Promise<void> {
    if (this.options.mode === 'audit') {
      const table = qualified(this.options.table);
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
    }
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    const client = this.client;
    if (client === undefined) throw new SinkError('PostgreSQL sink is not open', { retriable: true });
    if (records.length === 0) return;
    const events = records.map((r) => r.event);
    try {
      await client.query('BEGIN');
      const refused = this.options.mode === 'audit' ? await this.appendAudit(client, records) : await this.mirror.apply(client, events);
      await client.query('COMMIT');
      return { rejected: rejectedRecords(records, refused) };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (!isDataProblem(error)) throw sqlSinkError(error, 'PostgreSQL sink');
    }
    return { rejected: rejectedRecords(records, await this.isolate(client, records)) };
  }

  /**
   * The database refused the batch for the data of some event (a value too long,
   * a NOT NULL or CHECK violated): each event again, alone, behind a savepoint,
   * so only the refused ones become dead letters (with the database's reason)
   * and the others are applied, in order, in one transaction.
   */
  private async isolate(client: pg.Client, records: OutboundRecord[]): Promise<MirrorRefusal[]> {
    const refused: MirrorRefusal[] = [];
    try {
      await client.query('BEGIN');
      for (const record of records) {
        const event = record.event;
        await client.query('SAVEPOINT pgcdc_event');
        try {
          refused.push(...(this.options.mode === 'audit' ? await this.appendAudit(client, [record]) : await this.mirror.applyOne(client, event)));
          await client.query('RELEASE SAVEPOINT pgcdc_event');
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT pgcdc_event');
          if (!isDataProblem(error)) throw error;
          refused.push({ event, reason: `PostgreSQL refused it: ${(error as Error).message} (SQLSTATE ${(error as { code?: string }).code})` });
        }
      }
      await client.query('COMMIT');
      return refused;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw sqlSinkError(error, 'PostgreSQL sink');
    }
  }

  private async appendAudit(client: pg.Client, records: OutboundRecord[]): Promise<MirrorRefusal[]> {
    // The rows as one JSON array, each row's event spliced in as text: the
    // record's value when it is the event (most records), else serialized here.
    // Encoded straight into a Buffer sent in jsonb's binary form (a version
    // byte, then the text): a string of the whole batch was built, flattened
    // and then encoded by pg, a tenth of this sink's CPU in a profile.
    let estimate = 2;
    for (const record of records) estimate += record.value.length + 300;
    // Pooled (buffer-pool.ts): pg copies the parameter into its message, and the query's result means it was sent.
    const out = new ByteWriter(estimate, { pooled: true });
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
      // routed (outbox) or re-enveloped (the Connect form): then serialized here.
      const asIs = this.options.valueIsEvent === true && meta?.route === undefined;
      const ms = e.source.ts_ms;
      if (ms !== lastMs) {
        lastMs = ms;
        lastIso = ms === null ? 'null' : `"${new Date(ms).toISOString()}"`;
      }
      // The row's fields written one by one, as JSON.stringify of the row wrote
      // them (a test compares the two): one object and one string fewer per event.
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
      out.utf8(asIs ? record.value : stringifyExact(e));
      out.ascii('}');
    }
    out.ascii(']');
    const rows = out.finish();
    await client.query(
      `INSERT INTO ${qualified(this.options.table)} (id, source_schema, source_table, op, key, commit_time, tx_id, audit, event)
       SELECT r.id, r.source_schema, r.source_table, r.op, r.key, r.commit_time, r.tx_id, r.audit, r.event
         FROM jsonb_to_recordset($1::jsonb) AS r(id text, source_schema text, source_table text, op text, key jsonb,
              commit_time timestamptz, tx_id bigint, audit jsonb, event jsonb)
       ON CONFLICT (id) DO NOTHING`,
      [rows],
    ).finally(() => giveBack(rows));
    return [];
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
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}

/** jsonb's binary input (jsonb_recv): a version byte, 1, then the document's text. pg sends a Buffer parameter in binary. */
const JSONB_BINARY_VERSION = 1;

/**
 * A sink database error, with what to do. Connection trouble and conflicts are
 * retried; a missing privilege, table or column is a configuration error: the
 * pipeline stops and nothing is dead-lettered (every later write would fail too).
 */
function sqlSinkError(error: unknown, what: string): SinkError {
  const code = (error as { code?: string }).code ?? '';
  const retriable = isRetriableSqlState(code);
  const advice = retriable ? ''
    : code === '42501' ? "; the sink's role lacks a privilege: GRANT it what the message names (INSERT, UPDATE, DELETE on the target tables, CREATE on the schema for the audit table); nothing was dead-lettered"
    : code.startsWith('42') ? '; create the target table with matching columns and primary key; nothing was dead-lettered'
    : '';
  return new SinkError(`${what}: ${(error as Error).message}${advice}`, { retriable, cause: error });
}

/** Errors about one event's data (class 22 data exception, 23 integrity violation): dead letters, not a stop. */
function isDataProblem(error: unknown): boolean {
  return /^2[23]/.test((error as { code?: string }).code ?? '');
}

function rejectedRecords(records: OutboundRecord[], refused: MirrorRefusal[]): SinkResult['rejected'] {
  if (refused.length === 0) return [];
  const byEvent = new Map(records.map((r) => [r.event, r]));
  return refused.map(({ event, reason }) => ({ record: byEvent.get(event)!, reason }));
}
