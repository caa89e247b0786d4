/**
 * PostgreSQL as a sink, in one of two modes. Each batch is one transaction and
 * is confirmed only after COMMIT.
 *
 * - audit: append every event to a table (created when missing) as jsonb, with
 *   indexed columns for table, key, operation, commit time and audit data. The
 *   event id is the primary key: a re-delivered event is a no-op (ON CONFLICT DO
 *   NOTHING).
 * - mirror: apply changes to tables of the same name in the target database
 *   (which you create, with the same primary key): inserts and updates as upserts,
 *   deletes as deletes, truncates as truncates. Rows are built with
 *   json_populate_record (json keeps a json column's exact text), so the target's column types decide the conversion.
 *   Re-applying the re-delivered tail, in order, leaves the same rows.
 */
import { stringifyExact } from '../core/json.ts';
import pg from 'pg';
import type { ChangeEvent } from '../events/change-event.ts';
import { eventMeta } from '../events/event-builder.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink } from './sink.ts';
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
}

function qualified(name: string): string {
  const [schema, table] = name.includes('.') ? name.split('.', 2) as [string, string] : ['public', name];
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export class PostgresSink implements Sink {
  readonly name: string;
  private readonly options: PostgresSinkOptions;
  private client: pg.Client | undefined;

  constructor(options: PostgresSinkOptions) {
    this.options = options;
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

  async write(records: OutboundRecord[]): Promise<void> {
    const client = this.client;
    if (client === undefined) throw new SinkError('PostgreSQL sink is not open', { retriable: true });
    if (records.length === 0) return;
    try {
      await client.query('BEGIN');
      if (this.options.mode === 'audit') await this.appendAudit(client, records.map((r) => r.event));
      else for (const record of records) await this.applyMirror(client, record.event);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw sqlSinkError(error, 'PostgreSQL sink');
    }
  }

  private async appendAudit(client: pg.Client, events: ChangeEvent[]): Promise<void> {
    const rows = events.map((e) => ({
      id: e.id,
      source_schema: e.source.schema,
      source_table: e.op === 'm' ? `message:${e.message!.prefix}` : e.source.table,
      op: e.op,
      key: eventMeta(e)?.key ?? null,
      commit_time: e.source.ts_ms === null ? null : new Date(e.source.ts_ms).toISOString(),
      tx_id: e.source.txId,
      audit: e[this.options.auditField] ?? null,
      event: e,
    }));
    await client.query(
      `INSERT INTO ${qualified(this.options.table)} (id, source_schema, source_table, op, key, commit_time, tx_id, audit, event)
       SELECT r.id, r.source_schema, r.source_table, r.op, r.key, r.commit_time, r.tx_id, r.audit, r.event
         FROM jsonb_to_recordset($1::jsonb) AS r(id text, source_schema text, source_table text, op text, key jsonb,
              commit_time timestamptz, tx_id bigint, audit jsonb, event jsonb)
       ON CONFLICT (id) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  }

  private async applyMirror(client: pg.Client, event: ChangeEvent): Promise<void> {
    if (event.op === 'm') return;
    const table = `${quoteIdent(this.options.targetSchema ?? event.source.schema)}.${quoteIdent(event.source.table)}`;
    if (event.op === 't') {
      await client.query(`TRUNCATE ${table}`);
      return;
    }
    const key = eventMeta(event)?.key;
    if (!key || Object.keys(key).length === 0) throw new SinkError(`cannot mirror ${event.source.schema}.${event.source.table}: it has no key (give it a primary key or REPLICA IDENTITY)`, { retriable: false });
    const keyColumns = Object.keys(key).map(quoteIdent);
    if (event.op === 'd') {
      const where = keyColumns.map((c) => `${c} = (json_populate_record(NULL::${table}, $1::json)).${c}`).join(' AND ');
      await client.query(`DELETE FROM ${table} WHERE ${where}`, [stringifyExact(key)]);
      return;
    }
    const after = event.after ?? {};
    const columns = Object.keys(after).map(quoteIdent);
    const updates = columns.filter((c) => !keyColumns.includes(c)).map((c) => `${c} = EXCLUDED.${c}`);
    await client.query(
      `INSERT INTO ${table} (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM json_populate_record(NULL::${table}, $1::json)
       ON CONFLICT (${keyColumns.join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
      [stringifyExact(after)],
    );
    // An update that changed the key: the old row goes.
    const before = event.before;
    if (event.op === 'u' && before && Object.keys(key).some((k) => k in before && stringifyExact(before[k]) !== stringifyExact(key[k]))) {
      const where = keyColumns.map((c) => `${c} = (json_populate_record(NULL::${table}, $1::json)).${c}`).join(' AND ');
      await client.query(`DELETE FROM ${table} WHERE ${where}`, [stringifyExact(before)]);
    }
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}

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
