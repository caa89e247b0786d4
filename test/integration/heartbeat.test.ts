/**
 * The article's two-database case: the slot is on db2, 20 MB of writes go to db1,
 * db2 is idle. The WAL is shared, so the slot holds it back unless it advances.
 *
 * A CHECKPOINT after the writes logs the running-transactions record that lets
 * the server move restart_lsn (in production the background writer logs one
 * every 15 s); what differs between the cases is only whether the slot's
 * confirmed position moves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChangeStream, type ChangeStreamOptions } from '../../src/engine/change-stream.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

const MB = 1024 * 1024;
const INTERVAL_MS = 3000;
let server: TestPostgres;

before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE DATABASE db1');
  await server.query('CREATE DATABASE db2');
  await server.query('CREATE TABLE data (id INTEGER, value TEXT)', [], 'db1');
  await server.query('CREATE TABLE idle (id int PRIMARY KEY)', [], 'db2');
});
after(async () => { await server?.stop(); });

const retained = async (slot: string): Promise<number> =>
  Number((await server.query<{ r: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS r FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0]!.r);

const writeDb1 = (rows: number) =>
  server.query(`INSERT INTO data SELECT g, md5(g::text) || repeat('x', 150) FROM generate_series(1, ${rows}) g`, [], 'db1');

async function withStream(slot: string, options: Partial<ChangeStreamOptions>, run: (stream: ChangeStream) => Promise<void>): Promise<void> {
  const stream = await ChangeStream.open({ connection: server.url('db2'), slot, publication: `pub_${slot}`, statusIntervalMs: 500, ...options });
  const consume = (async () => { for await (const batch of stream) batch.confirm(); })();
  try {
    await run(stream);
  } finally {
    stream.requestStop();
    await consume;
    await stream.stop();
  }
}

async function minimumRetainedWithin(slot: string, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let least = await retained(slot);
  while (Date.now() < deadline && least >= MB) {
    await new Promise((r) => setTimeout(r, 200));
    least = Math.min(least, await retained(slot));
  }
  return least;
}

describe('heartbeats keep an idle slot from retaining WAL (two databases)', () => {
  test('without heartbeats, a consumer that acknowledges only delivered data (as Debezium does) retains WAL, and it keeps growing', async () => {
    await withStream('no_heartbeat', { heartbeat: false, acknowledgeKeepalives: false }, async () => {
      await writeDb1(100_000);
      await server.query('CHECKPOINT');
      const first = await minimumRetainedWithin('no_heartbeat', 2 * INTERVAL_MS);
      assert.ok(first >= 20 * MB, `retains ${(first / MB).toFixed(1)} MB`);
      await writeDb1(25_000);
      await server.query('CHECKPOINT');
      const later = await retained('no_heartbeat');
      assert.ok(later > first + 4 * MB, `grew from ${(first / MB).toFixed(1)} to ${(later / MB).toFixed(1)} MB`);
    });
  });

  test('with heartbeats, the same consumer retains under 1 MB within two heartbeat intervals', async () => {
    await withStream('with_heartbeat', { heartbeat: { intervalMs: INTERVAL_MS }, acknowledgeKeepalives: false }, async (stream) => {
      await writeDb1(100_000);
      await server.query('CHECKPOINT');
      assert.ok(await retained('with_heartbeat') >= 20 * MB, 'the writes are retained at first');
      const least = await minimumRetainedWithin('with_heartbeat', 2 * INTERVAL_MS);
      assert.ok(least < MB, `retains ${(least / MB).toFixed(2)} MB after two intervals`);
      assert.ok(stream.stats.heartbeatsSent >= 1);
      assert.equal(stream.stats.eventsDelivered, 0, 'heartbeats are acknowledged, not delivered');
    });
  });

  test("pgcdc's default (keepalive positions acknowledged when nothing is in flight) also releases the WAL, heartbeats or not", async () => {
    await withStream('keepalive_only', { heartbeat: false }, async () => {
      await writeDb1(100_000);
      await server.query('CHECKPOINT');
      const least = await minimumRetainedWithin('keepalive_only', 15_000);
      assert.ok(least < MB, `retains ${(least / MB).toFixed(2)} MB`);
    });
  });

  test('slot health: retained WAL is reported and a warning is given past the threshold', async () => {
    const notices: string[] = [];
    await withStream('health', { heartbeat: false, acknowledgeKeepalives: false, slotHealthIntervalMs: 300, retainedWalWarnBytes: 5 * MB, onNotice: (m) => notices.push(m) }, async (stream) => {
      await writeDb1(50_000);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !notices.some((n) => n.includes('retains'))) await new Promise((r) => setTimeout(r, 100));
      assert.ok((stream.stats.retainedWalBytes ?? 0) > 5 * MB);
      assert.match(notices.find((n) => n.includes('retains')) ?? '', /^slot health retains \d+ (kB|MB) of WAL \(warning above 5120 kB\)/);
    });
  });

  test('slot health: a warning when wal_status turns unreserved (the server may remove WAL the slot needs)', async () => {
    // No CHECKPOINT here: it would remove the WAL, invalidate the slot and end the stream.
    await server.query(`ALTER SYSTEM SET max_slot_wal_keep_size = '8MB'`);
    await server.query('SELECT pg_reload_conf()');
    const notices: string[] = [];
    try {
      await withStream('at_risk', { heartbeat: false, acknowledgeKeepalives: false, slotHealthIntervalMs: 200, onNotice: (m) => notices.push(m) }, async (stream) => {
        await writeDb1(100_000);
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && !notices.some((n) => n.includes('wal_status'))) await new Promise((r) => setTimeout(r, 100));
        assert.match(notices.find((n) => n.includes('wal_status')) ?? '', /^slot at_risk wal_status is unreserved: the server is about to remove WAL the slot still needs/);
        assert.equal(stream.stats.walStatus, 'unreserved');
      });
    } finally {
      await server.query('ALTER SYSTEM RESET max_slot_wal_keep_size');
      await server.query('SELECT pg_reload_conf()');
    }
  });
});
