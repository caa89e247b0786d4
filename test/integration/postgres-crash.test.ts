/**
 * After PostgreSQL crashes (immediate shutdown: no checkpoint), its slots are
 * back at their last checkpoint. pgcdc's own delivered-position record
 * (pgcdc.delivered) makes it resume where its sink was, so the repeats are what
 * was in flight plus one status interval, not everything since the checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { collectEvents, eventually } from '../support/collect.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';
import { parseLsn } from '../../src/core/lsn.ts';

let server: TestPostgres;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE items (id int PRIMARY KEY, v text); CREATE PUBLICATION items FOR TABLE items');
});
after(async () => { await server?.stop(); });

const ids = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id);

test('PostgreSQL crashes after thousands of changes were delivered: after the restart, the slot is back at its checkpoint but pgcdc resumes at its own record; repeats stay within one status interval', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-pg-crash-'));
  const out = join(dir, 'out.jsonl');
  const pipeline = createPipeline(parseConfig({
    source: { url: server.url(), slot: 'crashy', publication: 'items', statusInterval: '200ms' },
    sink: { type: 'file', path: out },
    heartbeat: false,
    snapshot: { mode: 'never' },
    retry: { initialDelay: '50ms', maxDelay: '200ms' },
  }).pipelines[0]!);
  const notices: string[] = [];
  pipeline.on('notice', (message) => notices.push(message));
  pipeline.on('error', () => undefined);
  await pipeline.start();
  try {
    await server.query('CHECKPOINT'); // the slot's position on disk is from here
    for (let batch = 0; batch < 30; batch++) await server.query(`INSERT INTO items SELECT g, 'v' FROM generate_series(${batch * 100 + 1}, ${batch * 100 + 100}) g`);
    await eventually('all 3,000 changes delivered', async () => ids(out).length, (n) => n >= 3000);
    const end = await currentWalLsn(server);
    await eventually('the position acknowledged', async () => parseLsn((await confirmedLsn(server, 'crashy'))!), (lsn) => lsn >= parseLsn(end));
    await new Promise((resolve) => setTimeout(resolve, 500)); // one more status interval: the record follows the acknowledgement
    await server.crashAndRestart();
    await server.query(`INSERT INTO items VALUES (9001, 'after the crash')`);
    await eventually('the change made after the crash', async () => ids(out), (list) => list.some((id) => list.length > 3000 && id !== undefined) && readFileSync(out, 'utf8').includes('after the crash'), 30_000);
    const all = ids(out);
    const repeats = all.length - new Set(all).size;
    console.log(`PostgreSQL crash: ${all.length} lines, ${repeats} repeats`);
    assert.ok(notices.some((n) => /resuming slot crashy at \S+ from pgcdc's delivered-position record: the slot was back at/.test(n)), `the slot was behind after the crash, and the record moved it: ${notices.join(' | ')}`);
    assert.ok(repeats <= 100, `${repeats} repeats: at most what was in flight plus one status interval`);
    assert.equal(new Set(all).size, 3001, 'nothing missing');
  } finally {
    await pipeline.stop();
  }
});

test('a replication role without CREATE: one line says there is no record and why, streaming goes on; once an administrator creates the table for it, the record is kept', async () => {
  await server.query(`CREATE ROLE streamer LOGIN REPLICATION PASSWORD 'pw'; GRANT SELECT ON items TO streamer; REVOKE CREATE ON DATABASE postgres FROM PUBLIC;
    DROP TABLE IF EXISTS pgcdc.delivered; DROP SCHEMA IF EXISTS pgcdc`);
  const url = new URL(server.url());
  url.username = 'streamer';
  url.password = 'pw';
  const run = async (slot: string) => {
    const notices: string[] = [];
    const stream = await ChangeStream.open({ connection: url.toString(), slot, publication: 'items', heartbeat: false, statusIntervalMs: 50, onNotice: (n) => notices.push(n) });
    try {
      await server.query(`INSERT INTO items VALUES (${slot === 'limited' ? 7001 : 7002}, 'x')`);
      await collectEvents(stream, 1);
      stream.acknowledgeNow();
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await stream.stop();
    }
    return notices;
  };
  const without = await run('limited');
  assert.ok(without.some((n) => /^no delivered-position record \(permission denied for database postgres\): after a PostgreSQL crash, changes since its last checkpoint are delivered again; grant CREATE on the database, or create pgcdc\.delivered/.test(n)), without.join(' | '));
  await server.query(`CREATE SCHEMA pgcdc; CREATE TABLE pgcdc.delivered (slot name PRIMARY KEY, lsn pg_lsn NOT NULL, system_id text NOT NULL, timeline int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
    GRANT USAGE ON SCHEMA pgcdc TO streamer; GRANT SELECT, INSERT, UPDATE, DELETE ON pgcdc.delivered TO streamer`);
  const withTable = await run('limited2');
  assert.ok(!withTable.some((n) => n.includes('no delivered-position record')), withTable.join(' | '));
  const rows = await server.query<{ slot: string }>(`SELECT slot FROM pgcdc.delivered WHERE slot = 'limited2'`);
  assert.equal(rows.length, 1, 'the record is kept for the restricted role');
});

test('idle with heartbeats: once what was delivered is recorded, the record is not written again (its own write and the heartbeats move the position, not the data)', async () => {
  const stream = await ChangeStream.open({ connection: server.url(), slot: 'idle_record', publication: 'items', heartbeat: { intervalMs: 100 }, statusIntervalMs: 50 });
  const recorded = async () => (await server.query<{ lsn: string; updated_at: string }>(`SELECT lsn::text, updated_at::text FROM pgcdc.delivered WHERE slot = 'idle_record'`))[0];
  let delivered = 0;
  const consuming = (async () => { for await (const batch of stream) { delivered += batch.events.length; batch.confirm(); } })();
  try {
    await server.query(`INSERT INTO items VALUES (8001, 'x')`);
    await eventually('the change delivered', async () => delivered, (n) => n === 1);
    await eventually('the delivery recorded', recorded, (row) => row !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 500)); // settle: the last in-flight acknowledgement recorded
    const settled = await recorded();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // ~15 heartbeats, ~30 status updates
    assert.ok(stream.stats.heartbeatsSent >= 5, `heartbeats were written (${stream.stats.heartbeatsSent})`);
    assert.ok(parseLsn((await confirmedLsn(server, 'idle_record'))!) > parseLsn(settled!.lsn), 'the slot moved on with the heartbeats');
    assert.deepEqual(await recorded(), settled, 'no record write while idle');
  } finally {
    await stream.stop();
    await consuming;
  }
});
