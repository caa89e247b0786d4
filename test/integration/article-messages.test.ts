/**
 * Every example of "The Wonders of Postgres Logical Decoding Messages for CDC"
 * (Gunnar Morling), run against a real server through pgcdc.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ChangeStream, type ChangeStreamOptions } from '../../src/engine/change-stream.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { eventMeta } from '../../src/events/event-builder.ts';
import type { DeadLetter } from '../../src/transform/transform.ts';
import { collectEvents } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
before(async () => {
  // Small logical_decoding_work_mem: the server streams large transactions in progress.
  server = await startPostgres(latestMajor(), ['-c', 'logical_decoding_work_mem=64kB']);
  await server.query(`CREATE TABLE data (id INTEGER, value TEXT);
    CREATE SCHEMA inventory;
    CREATE TABLE inventory.customer (id serial PRIMARY KEY, first_name text, last_name text, email text);
    CREATE TABLE inventory.address (id serial PRIMARY KEY, customer_id int REFERENCES inventory.customer, type text,
      line_1 text, line_2 text, zip_code text, city text, country text);
    CREATE TABLE payments (id int PRIMARY KEY);
    CREATE TABLE outbox (id uuid PRIMARY KEY, aggregatetype text NOT NULL, aggregateid text NOT NULL, type text, payload jsonb);`);
});
after(async () => { await server?.stop(); });

const open = (slot: string, options: Partial<ChangeStreamOptions> = {}) =>
  ChangeStream.open({ connection: server.url(), slot, publication: 'article', temporary: true, statusIntervalMs: 200, ...options });

async function inTransaction(statements: string[], rollback = false): Promise<void> {
  const client = new pg.Client({ connectionString: server.url() });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const sql of statements) await client.query(sql);
    await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
  } finally {
    await client.end();
  }
}

describe('the article, example by example', () => {
  test('101: a transactional "Hello World!" message with prefix context', async () => {
    const stream = await open('hello');
    try {
      await server.query(`SELECT * FROM pg_logical_emit_message(true, 'context', 'Hello World!')`);
      const [event] = await collectEvents(stream, 1);
      assert.equal(event!.op, 'm');
      assert.deepEqual(event!.message, { prefix: 'context', content: 'Hello World!', encoding: 'utf8', transactional: true });
      assert.equal(typeof event!.source.txId, 'number');
    } finally {
      await stream.stop();
    }
  });

  test('outbox: the shipment message is routed to topic shipment, key 42, header message_id, value the payload', async () => {
    const stream = await open('outbox');
    try {
      await server.query(`SELECT * FROM pg_logical_emit_message(
        true,
        'outbox',
        '{
          "id" : "298c2cc3-71bb-4d2b-b5b4-1b14006d56e6",
          "aggregate_type" : "shipment",
          "aggregate_id" : 42,
          "payload" : {
            "customer_id" : 7398,
            "item_id" : 8123,
            "status" : "SHIPPED",
            "numberOfPackages" : 3,
            "address" : "Bob Summers, 12 Main St., 90210, Los Angeles/CA, US"
          }
        }'
       )`);
      const [event] = await collectEvents(stream, 1);
      const route = eventMeta(event!)!.route!;
      assert.equal(route.topic, 'shipment');
      assert.equal(route.key, '42');
      assert.deepEqual(route.headers, { message_id: '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6' });
      assert.equal(JSON.stringify(route.value), '{"customer_id":7398,"item_id":8123,"status":"SHIPPED","numberOfPackages":3,"address":"Bob Summers, 12 Main St., 90210, Los Angeles/CA, US"}');
    } finally {
      await stream.stop();
    }
  });

  test('outbox: a classic outbox table gives the same record as the message; deleting outbox rows emits nothing', async () => {
    const stream = await open('outbox_table', { outbox: { tables: ['public.outbox'] } });
    try {
      await inTransaction([
        `INSERT INTO outbox VALUES ('298c2cc3-71bb-4d2b-b5b4-1b14006d56e6', 'shipment', '42', NULL,
           '{"customer_id": 7398, "item_id": 8123, "status": "SHIPPED", "numberOfPackages": 3, "address": "Bob Summers, 12 Main St., 90210, Los Angeles/CA, US"}')`,
        `DELETE FROM outbox`,
      ]);
      await server.query(`SELECT pg_logical_emit_message(true, 'context', 'marker')`);
      const [fromTable, marker] = await collectEvents(stream, 2);
      const route = eventMeta(fromTable!)!.route!;
      assert.deepEqual([route.topic, route.key, route.headers], ['shipment', '42', { message_id: '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6' }]);
      assert.deepEqual(route.value, { customer_id: 7398, item_id: 8123, status: 'SHIPPED', numberOfPackages: 3, address: 'Bob Summers, 12 Main St., 90210, Los Angeles/CA, US' });
      assert.equal(marker!.message!.content, 'marker', 'the delete of the outbox row produced no event');
    } finally {
      await stream.stop();
    }
  });

  test('outbox: a rolled-back transaction emits no outbox record', async () => {
    const stream = await open('outbox_rollback');
    try {
      await inTransaction([`SELECT pg_logical_emit_message(true, 'outbox', '{"id":"x","aggregate_type":"shipment","aggregate_id":1,"payload":{}}')`], true);
      await server.query(`SELECT pg_logical_emit_message(true, 'outbox', '{"id":"y","aggregate_type":"shipment","aggregate_id":2,"payload":{}}')`);
      const [event] = await collectEvents(stream, 1);
      assert.equal(eventMeta(event!)!.route!.headers.message_id, 'y');
    } finally {
      await stream.stop();
    }
  });

  test('logging: insert 1, log OK, insert 2 for the committed transaction; log ERROR alone for the rolled-back one', async () => {
    const stream = await open('logging');
    try {
      await inTransaction([
        `INSERT INTO data(id, value) VALUES('1', 'foo')`,
        `SELECT * FROM pg_logical_emit_message(false, 'log', 'OK')`,
        `INSERT INTO data(id, value) VALUES('2', 'bar')`,
      ]);
      await inTransaction([
        `INSERT INTO data(id, value) VALUES('3', 'baz')`,
        `SELECT * FROM pg_logical_emit_message(false, 'log', 'ERROR')`,
        `INSERT INTO data(id, value) VALUES('4', 'qux')`,
      ], true);
      const events = await collectEvents(stream, 4);
      const describe = (e: ChangeEvent) => (e.op === 'm' ? `log ${e.message!.content}` : `insert ${e.after!.id}`);
      // Non-transactional messages are delivered as soon as they are decoded, i.e.
      // before the commit of the transaction they were written in.
      assert.deepEqual(events.map(describe), ['log OK', 'insert 1', 'insert 2', 'log ERROR']);
      // In WAL order, as the article's pg_logical_slot_peek_changes(...) ORDER BY lsn shows them:
      const committed = events.slice(0, 3).sort((a, b) => a.source.lsn! - b.source.lsn!);
      assert.deepEqual(committed.map(describe), ['insert 1', 'log OK', 'insert 2']);
      assert.equal(events[3]!.message!.transactional, false);
      assert.equal(events.some((e) => e.after && (e.after.id === 3 || e.after.id === 4)), false, 'no change of the rolled-back transaction');
    } finally {
      await stream.stop();
    }
  });

  test('audit: both inserts of the customer + address transaction carry the audit metadata; the message itself is not delivered', async () => {
    const stream = await open('audit');
    try {
      await inTransaction([
        `SELECT * FROM pg_logical_emit_message(true, 'audit', '{ "user" : "bob@example.com", "client" : "10.0.0.1" }')`,
        `INSERT INTO inventory.customer(first_name, last_name, email) VALUES ('Bob', 'Green', 'bob@example.com')`,
        `INSERT INTO inventory.address (customer_id, type, line_1, line_2, zip_code, city, country)
         VALUES (currval('inventory.customer_id_seq'), 'Home', '12 Main St.', 'sdf', '90210', 'Los Angeles', 'US')`,
      ]);
      await server.query(`INSERT INTO data VALUES (5, 'no audit')`);
      const events = await collectEvents(stream, 3);
      assert.deepEqual(events.map((e) => `${e.op} ${e.source.table}`), ['c customer', 'c address', 'c data']);
      for (const e of events.slice(0, 2)) assert.equal(JSON.stringify(e.auditData), '{"user":"bob@example.com","client":"10.0.0.1"}');
      assert.equal(events[0]!.after!.first_name, 'Bob');
      assert.equal(events[1]!.after!.city, 'Los Angeles');
      assert.equal('auditData' in events[2]!, false, 'a transaction without audit passes unchanged');
    } finally {
      await stream.stop();
    }
  });

  test('audit: changes made before the audit message are enriched; required audit dead-letters unaudited changes', async () => {
    const stream = await open('audit_required', { audit: { requireFor: ['public.payments'] } });
    try {
      await inTransaction([`INSERT INTO payments VALUES (1)`, `SELECT pg_logical_emit_message(true, 'audit', '{"user":"ann"}')`]);
      await server.query(`INSERT INTO payments VALUES (2)`);
      await server.query(`INSERT INTO data VALUES (6, 'marker')`);
      const delivered: ChangeEvent[] = [];
      const deadLetters: DeadLetter[] = [];
      for await (const batch of stream) {
        delivered.push(...batch.events);
        deadLetters.push(...batch.deadLetters);
        batch.confirm();
        if (delivered.some((e) => e.after?.value === 'marker')) break;
      }
      assert.deepEqual(delivered.map((e) => [e.source.table, e.after!.id, e.auditData ?? null]), [['payments', 1, { user: 'ann' }], ['data', 6, null]]);
      assert.equal(deadLetters.length, 1);
      assert.equal(deadLetters[0]!.event.after!.id, 2);
      assert.match(deadLetters[0]!.reason, /require an 'audit' message/);
    } finally {
      await stream.stop();
    }
  });

  test('audit: a 20,000-row transaction, streamed by the server and spilled to disk, with the audit message last: every change enriched, memory bounded', async () => {
    const budget = 512 * 1024;
    const stream = await open('audit_large', { memoryBudgetBytes: budget, heartbeat: false });
    // Sampled between event-loop turns: what is held while the transaction is open, at rest.
    // (The sampler alone cannot show that anything was buffered: the changes up to the
    // budget may arrive, fill it and spill within one turn. stats.memoryPeak records that.)
    let sampledMemory = 0;
    const sampler = setInterval(() => { sampledMemory = Math.max(sampledMemory, stream.stats.memoryUsed); }, 2);
    try {
      await inTransaction([
        `INSERT INTO data SELECT g, repeat('v', 100) FROM generate_series(1, 20000) g`,
        `SELECT pg_logical_emit_message(true, 'audit', '{"user":"batch-job","use_case":"nightly import"}')`,
      ]);
      let count = 0;
      for await (const batch of stream) {
        for (const event of batch.events) {
          assert.deepEqual(event.auditData, { user: 'batch-job', use_case: 'nightly import' }, `event ${event.id}`);
          count++;
        }
        batch.confirm();
        if (count >= 20_000) break;
      }
      assert.equal(count, 20_000);
      const peak = stream.stats.memoryPeak;
      // One change of 105 bytes is estimated at well under 1 KiB: at most that over the budget, just before the spill.
      assert.ok(peak > budget - 1024, `the open transaction was buffered as it streamed in, up to the budget: peak ${peak}`);
      assert.ok(peak <= budget + 1024, `buffered at most one change past the budget: peak ${peak}, budget ${budget}`);
      assert.ok(sampledMemory <= budget, `held ${sampledMemory} bytes between turns, budget ${budget}`);
    } finally {
      clearInterval(sampler);
      await stream.stop();
    }
  });
});
