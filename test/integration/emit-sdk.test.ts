/** pgcdc/emit from node-postgres (client, pool) and postgres.js (sql, transaction), read back through the stream. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { eventMeta } from '../../src/events/event-builder.ts';
import { emitAudit, emitLog, emitMessage, emitOutbox, EmitError } from '../../src/sdk/emit.ts';
import { collectEvents } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
let stream: ChangeStream;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  stream = await ChangeStream.open({ connection: server.url(), slot: 'sdk', publication: 'sdk', temporary: true, heartbeat: false });
});
after(async () => {
  await stream?.stop();
  await server?.stop();
});

describe('pgcdc/emit', () => {
  test('node-postgres: emitOutbox in a transaction with the business change; the id is a UUIDv7 and routes the record', async () => {
    const client = new pg.Client({ connectionString: server.url() });
    await client.connect();
    let id: string;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO orders VALUES (1, 'PLACED')`);
      id = await emitOutbox(client, { aggregateType: 'order', aggregateId: 1, type: 'OrderPlaced', payload: { status: 'PLACED', total: '19.90' } });
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [insert, outbox] = await collectEvents(stream, 2);
    assert.equal(insert!.op, 'c');
    assert.equal(outbox!.source.txId, insert!.source.txId);
    assert.deepEqual(eventMeta(outbox!)!.route, { topic: 'order', key: '1', headers: { message_id: id, type: 'OrderPlaced' }, value: { status: 'PLACED', total: '19.90' } });
  });

  test('node-postgres pool: emitLog survives a rollback; emitMessage sends text, JSON and bytes', async () => {
    const pool = new pg.Pool({ connectionString: server.url(), max: 2 });
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO orders VALUES (2, 'PLACED')`);
        await emitLog(client, 'error', 'payment declined', { orderId: 2 });
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
      const lsn = await emitMessage(pool, { prefix: 'text', content: 'plain text' });
      assert.match(lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
      await emitMessage(pool, { prefix: 'json', content: { a: [1, 2] }, transactional: false });
      await emitMessage(pool, { prefix: 'bytes', content: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) });
    } finally {
      await pool.end();
    }
    const events = await collectEvents(stream, 4);
    const log = JSON.parse(events[0]!.message!.content);
    assert.equal(events[0]!.message!.prefix, 'log');
    assert.equal(events[0]!.message!.transactional, false);
    assert.deepEqual({ ...log, time: undefined }, { orderId: 2, level: 'error', message: 'payment declined', time: undefined });
    assert.deepEqual(events.slice(1).map((e) => [e.message!.prefix, e.message!.content, e.message!.encoding, e.message!.transactional]), [
      ['text', 'plain text', 'utf8', true],
      ['json', '{"a":[1,2]}', 'utf8', false],
      ['bytes', '3q2+7w==', 'base64', true],
    ]);
  });

  test('postgres.js: emitAudit inside sql.begin attaches audit data to the transaction\'s changes', async () => {
    const sql = postgres(server.url(), { max: 1, onnotice: () => undefined });
    try {
      await sql.begin(async (tx) => {
        await tx`INSERT INTO orders VALUES (3, 'PLACED')`;
        await emitAudit(tx, { user: 'bob@example.com', client: '10.0.0.1' });
        await tx`UPDATE orders SET status = 'PAID' WHERE id = 3`;
      });
      await emitMessage(sql, { prefix: 'pjs', content: 'from sql' });
    } finally {
      await sql.end();
    }
    const [insert, update, message] = await collectEvents(stream, 3);
    assert.deepEqual([insert!.auditData, update!.auditData], [{ user: 'bob@example.com', client: '10.0.0.1' }, { user: 'bob@example.com', client: '10.0.0.1' }]);
    assert.equal(message!.message!.content, 'from sql');
  });

  test('bad arguments throw EmitError before anything is written', async () => {
    const client = new pg.Client({ connectionString: server.url() });
    await client.connect();
    try {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bad: Array<[string, () => Promise<unknown>, RegExp]> = [
        ['empty prefix', () => emitMessage(client, { prefix: '', content: 'x' }), /prefix must be a non-empty string/],
        ['cyclic content', () => emitMessage(client, { prefix: 'p', content: cyclic as never }), /content cannot be serialised as JSON/],
        ['bigint content', () => emitMessage(client, { prefix: 'p', content: { n: 1n } as never }), /cannot be serialised as JSON/],
        ['missing aggregate type', () => emitOutbox(client, { aggregateType: '', aggregateId: 1, payload: {} }), /aggregateType must be a non-empty string/],
        ['missing aggregate id', () => emitOutbox(client, { aggregateType: 'order', aggregateId: '' , payload: {} }), /aggregateId must be a non-empty string or a number/],
        ['missing payload', () => emitOutbox(client, { aggregateType: 'order', aggregateId: 1 } as never), /payload is missing/],
        ['audit not an object', () => emitAudit(client, [] as never), /audit metadata must be an object/],
        ['log level', () => emitLog(client, 'loud' as never, 'x'), /log level must be one of/],
        ['not a database', () => emitMessage({} as never, { prefix: 'p', content: 'x' }), /db must have query/],
      ];
      for (const [what, call, message] of bad) {
        await assert.rejects(call, (error: unknown) => error instanceof EmitError && error.code === 'PGCDC_EMIT_INVALID' && message.test(error.message), what);
      }
      await emitMessage(client, { prefix: 'marker', content: 'after the errors' });
    } finally {
      await client.end();
    }
    const [first] = await collectEvents(stream, 1);
    assert.equal(first!.message!.prefix, 'marker', 'none of the rejected calls wrote anything');
  });
});
