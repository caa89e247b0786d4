/**
 * A log line must survive the rollback it reports, and a crash right after it:
 * on PostgreSQL 17+ emitLog (and any non-transactional emitMessage) flushes its
 * message at once. The servers here run with a 10 s WAL writer delay, so without
 * the flush the message would not be visible to SQL readers of the slot (which
 * read only flushed WAL) for seconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import { emitLog, emitMessage } from '../../src/sdk/emit.ts';
import { startPostgres, testMajors, type TestPostgres } from '../support/postgres.ts';

for (const major of testMajors().filter((m) => m >= 17)) {
  describe(`non-transactional messages are flushed at once on PostgreSQL ${major}`, () => {
    let server: TestPostgres;
    before(async () => {
      server = await startPostgres(major, ['-c', 'wal_writer_delay=10000']);
      await server.query('CREATE TABLE orders (id int PRIMARY KEY)');
      await server.query(`SELECT pg_create_logical_replication_slot('flushed', 'test_decoding')`);
    });
    after(async () => { await server?.stop(); });

    const peek = async () => (await server.query<{ data: string }>(`SELECT data FROM pg_logical_slot_peek_changes('flushed', NULL, NULL)`)).map((r) => r.data);

    test('emitLog in a transaction that rolls back is readable from the slot right after the rollback (node-postgres)', async () => {
      const client = new pg.Client({ connectionString: server.url() });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO orders VALUES (1)');
        await emitLog(client, 'error', 'payment declined', { order: 1 });
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
      const changes = await peek();
      assert.ok(changes.some((d) => d.startsWith('message: transactional: 0 prefix: log') && d.includes('payment declined')), changes.join('\n'));
      assert.ok(!changes.some((d) => d.includes('INSERT')), 'the rolled-back insert is not there');
    });

    test('emitMessage({transactional: false}) through postgres.js, inside a transaction it rolls back', async () => {
      const sql = postgres(server.url(), { max: 1, onnotice: () => undefined });
      try {
        await sql.begin(async (tx) => {
          await emitMessage(tx, { prefix: 'audit-trail', content: 'tried', transactional: false });
          throw new Error('roll back');
        }).catch(() => undefined);
      } finally {
        await sql.end();
      }
      assert.ok((await peek()).some((d) => d.startsWith('message: transactional: 0 prefix: audit-trail') && d.endsWith('content:tried')));
    });
  });
}
