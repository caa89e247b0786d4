/**
 * A sink that refuses pgcdc's credentials or permissions is a configuration
 * error, not bad events: the pipeline stops with one line that says what to
 * grant, nothing is dead-lettered, and the slot stays before the refused
 * changes. Real servers: nats-server with a user that may not publish the
 * sink's subjects, Redis with an ACL user without XADD, PostgreSQL with a role
 * without INSERT on the mirror table.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/load-config.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { startNats, type TestNats } from '../support/nats.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';

let server: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'pgcdc-permissions-'));
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE items (id int PRIMARY KEY, v text); CREATE PUBLICATION items FOR TABLE items');
});
after(async () => { await server?.stop(); });

/** Runs a pipeline to `sink` until it stops; returns its errors, its dead letters and whether the slot stayed before the inserted rows. */
async function refusedBy(slot: string, sink: Record<string, unknown>): Promise<{ errors: string[]; deadLetters: number; slotHeld: boolean; health: string }> {
  const deadLetterPath = join(dir, `${slot}.dead.jsonl`);
  const pipeline = createPipeline(parseConfig({
    source: { url: server.url(), slot, publication: 'items', statusInterval: '100ms' },
    sink,
    deadLetter: { type: 'file', path: deadLetterPath },
    heartbeat: false,
    snapshot: { mode: 'never' },
    retry: { initialDelay: '20ms', maxDelay: '50ms' },
  }).pipelines[0]!);
  const errors: string[] = [];
  pipeline.on('error', (error) => errors.push(error.message));
  await pipeline.start();
  const beforeRows = await currentWalLsn(server);
  await server.query(`INSERT INTO items VALUES (1, 'a'), (2, 'b')`);
  await pipeline.done.catch(() => undefined);
  const deadLetters = existsSync(deadLetterPath) ? readFileSync(deadLetterPath, 'utf8').split('\n').filter(Boolean).length : 0;
  const slotHeld = parseLsn((await confirmedLsn(server, slot))!) <= parseLsn(beforeRows);
  await server.query('DELETE FROM items');
  return { errors, deadLetters, slotHeld, health: pipeline.health };
}

test('NATS: a user without publish rights on the subjects stops the pipeline with one line naming the subject', async () => {
  const config = join(dir, 'nats.conf');
  writeFileSync(config, `authorization {
  users = [
    { user: pgcdc, password: secret, permissions: { publish: { allow: ["$JS.API.>", "_INBOX.>", "_pgcdc.>"] }, subscribe: { allow: [">"] } } }
  ]
}
`);
  let nats: TestNats | undefined;
  try {
    nats = await startNats({ args: ['-c', config] });
    const result = await refusedBy('nats_denied', { type: 'nats', servers: [nats.url], stream: 'CDC', user: 'pgcdc', password: 'secret', timeout: '5s' });
    assert.equal(result.health, 'failed');
    assert.equal(result.errors.length, 1, result.errors.join('\n'));
    assert.match(result.errors[0]!, /^NATS refuses pgcdc's publish: Permissions Violation for Publish to "pgcdc\.public\.items"; give the sink's user publish rights on these subjects \(nothing was dead-lettered\)$/);
    assert.equal(result.deadLetters, 0);
    assert.ok(result.slotHeld, 'the slot did not move past the refused changes');
  } finally {
    await nats?.dispose();
  }
});

test('Redis: an ACL user without XADD stops the pipeline with one line that says what to grant', async () => {
  let redis: TestRedis | undefined;
  try {
    redis = await startRedis();
    const admin = new Redis(redis.port, '127.0.0.1');
    await admin.call('ACL', 'SETUSER', 'pgcdc', 'on', '>secret', '~*', '&*', '+@all', '-xadd');
    admin.disconnect();
    const result = await refusedBy('redis_denied', { type: 'redis', url: `redis://pgcdc:secret@127.0.0.1:${redis.port}` });
    assert.equal(result.health, 'failed');
    assert.equal(result.errors.length, 1, result.errors.join('\n'));
    assert.match(result.errors[0]!, /NOPERM.*xadd.*; give the sink's user the XADD command and the stream keys \(ACL SETUSER … \+xadd ~…\); nothing was dead-lettered$/i);
    assert.equal(result.deadLetters, 0);
    assert.ok(result.slotHeld);
  } finally {
    await redis?.dispose();
  }
});

test('PostgreSQL mirror: a role without INSERT stops the pipeline with one line that says to grant it', async () => {
  await server.query(`CREATE SCHEMA mirror; CREATE TABLE mirror.items (id int PRIMARY KEY, v text);
    CREATE ROLE sink_writer LOGIN PASSWORD 'secret'; GRANT USAGE ON SCHEMA mirror TO sink_writer; GRANT SELECT ON mirror.items TO sink_writer`);
  const url = new URL(server.url());
  url.username = 'sink_writer';
  url.password = 'secret';
  const result = await refusedBy('pg_denied', { type: 'postgres', url: url.toString(), mode: 'mirror', targetSchema: 'mirror' });
  assert.equal(result.health, 'failed');
  assert.equal(result.errors.length, 1, result.errors.join('\n'));
  assert.match(result.errors[0]!, /^PostgreSQL sink: permission denied for table items; the sink's role lacks a privilege: GRANT it/);
  assert.equal(result.deadLetters, 0);
  assert.ok(result.slotHeld);
});
