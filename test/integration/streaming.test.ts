/**
 * The streaming suite, against every supported major (14-18): real server,
 * real pgoutput, events checked field by field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { formatLsn, parseLsn } from '../../src/core/lsn.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { eventMeta } from '../../src/events/event-builder.ts';
import { collectEvents, eventually } from '../support/collect.ts';
import { startPostgres, testMajors, type TestPostgres } from '../support/postgres.ts';
import { currentWalLsn } from '../support/slots.ts';

for (const major of testMajors()) {
  describe(`streaming on PostgreSQL ${major}`, () => {
    let server: TestPostgres;
    before(async () => {
      server = await startPostgres(major, ['-c', 'logical_decoding_work_mem=64kB']);
      await server.query(`
        CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email text, bio text);
        CREATE TABLE audit_full (id int PRIMARY KEY, v text);
        ALTER TABLE audit_full REPLICA IDENTITY FULL;
        CREATE TABLE nokey (v text);
        CREATE TABLE unpublished (id int);
        CREATE PUBLICATION app FOR TABLE users, audit_full, nokey;`);
    });
    after(async () => { await server?.stop(); });

    const open = (slot: string, extra: Partial<Parameters<typeof ChangeStream.open>[0]> = {}) =>
      ChangeStream.open({ connection: server.url(), slot, publication: 'app', statusIntervalMs: 100, ...extra });

    test('insert, update, delete and truncate arrive as Debezium envelopes with deterministic ids', async () => {
      const stream = await open('crud');
      try {
        await server.query(`INSERT INTO users (name, email) VALUES ('alice', 'a@example.com')`);
        await server.query(`UPDATE users SET email = 'alice@example.com' WHERE name = 'alice'`);
        await server.query(`INSERT INTO audit_full VALUES (1, 'one')`);
        await server.query(`UPDATE audit_full SET v = 'uno' WHERE id = 1`);
        await server.query(`UPDATE users SET id = 100 WHERE name = 'alice'`);
        await server.query(`DELETE FROM users WHERE id = 100`);
        await server.query(`INSERT INTO nokey VALUES ('x')`);
        await server.query(`TRUNCATE nokey`);
        const events = await collectEvents(stream, 8);
        const [insert, update, fullInsert, fullUpdate, keyChange, del, nokey, truncate] = events;
        assert.equal(insert!.op, 'c');
        assert.deepEqual(insert!.before, null);
        assert.deepEqual(insert!.after, { id: 1, name: 'alice', email: 'a@example.com', bio: null });
        assert.equal(insert!.source.connector, 'postgresql');
        assert.equal(insert!.source.db, 'postgres');
        assert.equal(insert!.source.schema, 'public');
        assert.equal(insert!.source.table, 'users');
        assert.equal(insert!.source.snapshot, 'false');
        assert.equal(typeof insert!.source.txId, 'number');
        assert.equal(typeof insert!.source.lsn, 'number');
        assert.ok(Math.abs(insert!.source.ts_ms! - Date.now()) < 60_000, 'commit time is now-ish');
        assert.deepEqual(JSON.parse(insert!.source.sequence).length, 2);
        assert.deepEqual(insert!.transaction, { id: `${insert!.source.txId}:${eventMeta(insert!)!.commitLsn}`, total_order: 1, data_collection_order: 1 });
        assert.match(insert!.id, /^[0-9A-F]+\/[0-9A-F]+:1$/);
        assert.deepEqual(eventMeta(insert!)!.key, { id: 1 });

        assert.equal(update!.op, 'u');
        assert.equal(update!.before, null, 'default replica identity sends no old row when the key is unchanged');
        assert.equal(update!.after!.email, 'alice@example.com');

        assert.deepEqual(fullInsert!.after, { id: 1, v: 'one' });
        assert.deepEqual(fullUpdate!.before, { id: 1, v: 'one' }, 'REPLICA IDENTITY FULL gives the whole old row');
        assert.deepEqual(fullUpdate!.after, { id: 1, v: 'uno' });

        assert.deepEqual(keyChange!.before, { id: 1 }, 'a key change carries the old key');
        assert.equal(keyChange!.after!.id, 100);
        assert.deepEqual(eventMeta(keyChange!)!.key, { id: 100 });

        assert.equal(del!.op, 'd');
        assert.deepEqual(del!.before, { id: 100 });
        assert.equal(del!.after, null);

        assert.equal(eventMeta(nokey!)!.key, null, 'a table without a key has a null key');
        assert.equal(truncate!.op, 't');
        assert.equal(truncate!.source.table, 'nokey');
        assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');
      } finally {
        await stream.stop();
      }
    });

    test('logical decoding messages: transactional ones with their transaction, non-transactional ones even after a rollback', async () => {
      const stream = await open('messages');
      const client = new pg.Client({ connectionString: server.url() });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO users (name) VALUES ('bob')`);
        await client.query(`SELECT pg_logical_emit_message(true, 'app', '{"id":"1"}')`);
        await client.query(`SELECT pg_logical_emit_message(true, 'bin', '\\xc328'::bytea)`);
        await client.query('COMMIT');
        await client.query('BEGIN');
        await client.query(`INSERT INTO users (name) VALUES ('ghost')`);
        await client.query(`SELECT pg_logical_emit_message(false, 'log', 'ERROR')`);
        await client.query(`SELECT pg_logical_emit_message(true, 'app', 'rolled back')`);
        await client.query('ROLLBACK');
        await client.query(`INSERT INTO users (name) VALUES ('carol')`);
        const events = await collectEvents(stream, 5);
        assert.deepEqual(events.map((e) => e.op), ['c', 'm', 'm', 'm', 'c']);
        const [bob, outbox, binary, log, carol] = events;
        assert.equal(bob!.after!.name, 'bob');
        assert.deepEqual(outbox!.message, { prefix: 'app', content: '{"id":"1"}', encoding: 'utf8', transactional: true });
        assert.equal(outbox!.source.txId, bob!.source.txId);
        assert.equal(outbox!.transaction!.total_order, 2);
        assert.equal('before' in outbox!, false, 'message events have no before/after, as in Debezium');
        assert.deepEqual(binary!.message, { prefix: 'bin', content: Buffer.from([0xc3, 0x28]).toString('base64'), encoding: 'base64', transactional: true });
        assert.deepEqual(log!.message, { prefix: 'log', content: 'ERROR', encoding: 'utf8', transactional: false });
        assert.equal(log!.transaction, null);
        assert.match(log!.id, /:0$/);
        assert.equal(carol!.after!.name, 'carol', 'the rolled-back insert and transactional message never appear');
      } finally {
        await client.end();
        await stream.stop();
      }
    });

    test('unchanged TOASTed columns are the placeholder, never null', async () => {
      const stream = await open('toast', { toastPlaceholder: '__unavailable__' });
      try {
        const big = Array.from({ length: 4000 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('').repeat(5);
        await server.query(`ALTER TABLE users ALTER COLUMN bio SET STORAGE EXTERNAL`);
        await server.query(`INSERT INTO users (id, name, bio) VALUES (100000, 'toasty', $1)`, [big]);
        await server.query(`UPDATE users SET name = 'toasted' WHERE id = 100000`);
        const [insert, update] = await collectEvents(stream, 2);
        assert.equal(insert!.after!.bio, big);
        assert.equal(update!.after!.bio, '__unavailable__');
        assert.equal(update!.after!.name, 'toasted');
      } finally {
        await stream.stop();
      }
    });

    test('REPLICA IDENTITY FULL: an unchanged TOASTed column is in the old row, so after carries it too, not the placeholder', async () => {
      await server.query(`CREATE TABLE IF NOT EXISTS toasted_full (id int PRIMARY KEY, name text, bio text); ALTER TABLE toasted_full REPLICA IDENTITY FULL; ALTER TABLE toasted_full ALTER COLUMN bio SET STORAGE EXTERNAL`);
      await server.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'app' AND tablename = 'toasted_full') THEN ALTER PUBLICATION app ADD TABLE toasted_full; END IF; END $$`).catch(() => undefined);
      const stream = await open('toast_full', { toastPlaceholder: '__unavailable__' });
      try {
        const big = Array.from({ length: 4000 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('').repeat(5);
        await server.query(`INSERT INTO toasted_full VALUES (1, 'toasty', $1)`, [big]);
        await server.query(`UPDATE toasted_full SET name = 'toasted' WHERE id = 1`);
        const [, update] = await collectEvents(stream, 2);
        assert.equal(update!.before!.bio, big, 'the old row carries the full value');
        assert.equal(update!.after!.bio, big, 'so the new row does too: the value is in this very event');
        assert.equal(update!.after!.name, 'toasted');
      } finally {
        await stream.stop();
        await server.query('DROP TABLE toasted_full');
      }
    });

    test('a large transaction streamed in progress is delivered only after its commit; aborted parts never', async () => {
      const stream = await open('large');
      const client = new pg.Client({ connectionString: server.url() });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO users (name, bio) SELECT 'bulk ' || g, repeat('x', 200) FROM generate_series(1, 3000) g`);
        await client.query('SAVEPOINT s1');
        await client.query(`INSERT INTO users (name) SELECT 'undone ' || g FROM generate_series(1, 1000) g`);
        await client.query('ROLLBACK TO SAVEPOINT s1');
        await client.query(`INSERT INTO users (name) VALUES ('last')`);
        // The server streams the open transaction (logical_decoding_work_mem=64kB); none of it may come out yet.
        const early = await Promise.race([
          collectEvents(stream, 1, 1500).then(() => 'delivered', () => 'nothing'),
        ]);
        assert.equal(early, 'nothing', 'nothing of an open transaction is delivered');
        await stream.stop();
        await client.query('COMMIT');
        // A streamed transaction that aborts entirely.
        await client.query('BEGIN');
        await client.query(`INSERT INTO users (name) SELECT 'aborted ' || g FROM generate_series(1, 2000) g`);
        await client.query('ROLLBACK');
        await client.query(`INSERT INTO users (name) VALUES ('marker')`);
        const stream2 = await open('large');
        try {
          const events = await collectEvents(stream2, 3002);
          const names = events.map((e) => String(e.after!.name));
          assert.equal(names.filter((n) => n.startsWith('bulk ')).length, 3000);
          assert.equal(names.filter((n) => n.startsWith('undone ') || n.startsWith('aborted ')).length, 0);
          assert.deepEqual(names.slice(-2), ['last', 'marker']);
          assert.deepEqual(events.slice(0, 3000).map((e) => e.transaction!.total_order), Array.from({ length: 3000 }, (_, i) => i + 1));
        } finally {
          await stream2.stop();
        }
      } finally {
        await client.end();
        await stream.stop();
      }
    });

    test('after a restart streaming resumes at the confirmed position: nothing lost, only unconfirmed events repeat', async () => {
      const first = await open('resume');
      for (let i = 1; i <= 3; i++) await server.query(`INSERT INTO audit_full VALUES ($1, 'r')`, [1000 + i]);
      const it = first[Symbol.asyncIterator]();
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        const next = await it.next();
        assert.ok(!next.done);
        seen.push(...next.value.events.map((e) => e.id));
        if (i < 2) next.value.confirm(); // the third is handed out but never confirmed
      }
      await first.stop();
      const slot = (await server.query<{ lsn: string }>(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'resume'`))[0]!;
      await server.query(`INSERT INTO audit_full VALUES (1004, 'r')`);
      const second = await open('resume');
      try {
        assert.equal(formatLsn(second.startLsn), slot.lsn);
        const again = await collectEvents(second, 2);
        assert.equal(again[0]!.id, seen[2], 'the unconfirmed event comes again, with the same id');
        assert.equal(again[0]!.after!.id, 1003);
        assert.equal(again[1]!.after!.id, 1004);
      } finally {
        await second.stop();
      }
    });

    test('an idle slot advances on keepalives when nothing is in flight', async () => {
      const stream = await open('idle', { statusIntervalMs: 100 });
      const iterate = (async () => { for await (const batch of stream) batch.confirm(); })();
      try {
        const start = stream.startLsn;
        await server.query(`INSERT INTO unpublished SELECT generate_series(1, 20000)`);
        const lsn = await currentWalLsn(server);
        await eventually('the slot to pass the unpublished writes',
          async () => (await server.query<{ lsn: string }>(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'idle'`))[0]!.lsn,
          (confirmed) => parseLsn(confirmed) >= parseLsn(lsn!), 20_000);
        assert.ok(stream.tracker.safeLsn > start);
      } finally {
        stream.requestStop();
        await iterate;
        await stream.stop();
      }
    });
  });
}
