/** The Redis Streams sink against a real redis-server, through a pipeline on a real PostgreSQL. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/load-config.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { RedisSink, streamEntryId } from '../../src/sink/redis-sink.ts';
import { eventually } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { ServerProcess } from '../support/server-process.ts';
import { configWriter, errorLines, runCli, startCli, stopGracefully, waitForStreaming } from '../support/cli.ts';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { assertEveryVersionOnceInOrder, fastRetryPipeline } from '../support/versions.ts';

let server: TestPostgres;
let redis: TestRedis;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  await server.query('CREATE PUBLICATION streams FOR TABLE orders');
  redis = await startRedis();
});
after(async () => {
  await redis?.dispose();
  await server?.stop();
});

const xrange = async (key: string) => {
  const client = new Redis(redis.url);
  try {
    return (await client.xrange(key, '-', '+')).map(([id, fields]) => ({ id, fields: Object.fromEntries(fields.reduce<string[][]>((pairs, v, i) => (i % 2 ? (pairs[pairs.length - 1]!.push(v), pairs) : [...pairs, [v]]), [])) }));
  } finally {
    client.disconnect();
  }
};

test('entry IDs come from the WAL position', () => {
  assert.equal(streamEntryId('0/1A2B3C:4'), `${parseLsn('0/1A2B3C')}-4`);
  assert.equal(streamEntryId('0/1A2B3C:0'), `${0x1a2b3cn}-0`);
  assert.equal(streamEntryId('xid726:1'), undefined);
  // One transaction's LSN is parsed once: the next transaction's, and one without a colon, are their own.
  assert.equal(streamEntryId('1/0:2'), `${1n << 32n}-2`);
  assert.equal(streamEntryId('1/0'), undefined);
  assert.equal(streamEntryId('0/1A2B3C:7'), `${0x1a2b3cn}-7`);
});

test('Redis Streams: XADD with WAL-derived IDs; a re-delivery adds nothing; Redis down and back loses nothing', async () => {
  const config = parseConfig({
    source: { url: server.url(), slot: 'streams', publication: 'streams', statusInterval: '100ms' },
    sink: { type: 'redis', url: redis.url, timeout: '1s' },
    heartbeat: false,
    retry: { initialDelay: '50ms', maxDelay: '300ms' },
  });
  const pipeline = createPipeline(config.pipelines[0]!);
  await pipeline.start();
  try {
    await server.query(`INSERT INTO orders VALUES (1, 'PLACED'), (2, 'PLACED')`);
    await server.query(`UPDATE orders SET status = 'PAID' WHERE id = 1`);
    const entries = await eventually('three entries', () => xrange('pgcdc.public.orders'), (e) => e.length === 3);
    assert.deepEqual(entries.map((e) => JSON.parse(e.fields.value!).op), ['c', 'c', 'u']);
    assert.equal(entries[0]!.id, streamEntryId(entries[0]!.fields.id!));
    assert.equal(entries[0]!.fields.key, '{"id":1}');

    // The same records again (what a crash before the acknowledgement causes): nothing added.
    const sink = new RedisSink({ url: redis.url, maxLen: undefined, timeoutMs: 1000 });
    await sink.open();
    const replay = entries.map((e) => ({ id: e.fields.id!, topic: 'pgcdc.public.orders', key: e.fields.key!, headers: {}, value: e.fields.value!, event: JSON.parse(e.fields.value!) }));
    await sink.write(replay);
    await sink.close();
    assert.equal(sink.duplicates, 3);
    assert.equal((await xrange('pgcdc.public.orders')).length, 3);

    await redis.stop();
    await server.query(`INSERT INTO orders VALUES (3, 'WHILE DOWN')`);
    await eventually('a retry while Redis is down', async () => pipeline.health, (h) => h === 'degraded');
    await redis.start(); // no persistence: the stream starts empty again
    const after = await eventually('the change made while Redis was down', () => xrange('pgcdc.public.orders'), (e) => e.some((x) => x.fields.value!.includes('WHILE DOWN')));
    assert.equal(JSON.parse(after.find((x) => x.fields.value!.includes('WHILE DOWN'))!.fields.value!).after.id, 3);
    await eventually('healthy again', async () => pipeline.health, (h) => h === 'running');
  } finally {
    await pipeline.stop();
  }
});

test('batches encoded ahead and written as one group: one transaction, in order; the same group again adds nothing and counts every record as a duplicate', async () => {
  const sink = new RedisSink({ url: redis.url, maxLen: undefined, timeoutMs: 1000 });
  await sink.open();
  try {
    const record = (lsn: string, n: number) => {
      const value = JSON.stringify({ id: `${lsn}:${n}`, op: 'c', after: { id: n, note: 'é ✓' } });
      return { id: `${lsn}:${n}`, topic: 'encoded.orders', key: `{"id":${n}}`, headers: { 'trace-id': `t${n}` }, value, event: JSON.parse(value) as never };
    };
    const first = sink.encode([record('0/2000000', 1), record('0/2000000', 2)]);
    const empty = sink.encode([]);
    const second = sink.encode([record('0/3000000', 1)]);
    assert.equal(empty.count, 0);
    await sink.writeEncoded([first, empty, second]);
    const entries = await xrange('encoded.orders');
    assert.deepEqual(entries.map((e) => e.id), [streamEntryId('0/2000000:1'), streamEntryId('0/2000000:2'), streamEntryId('0/3000000:1')]);
    assert.deepEqual(entries.map((e) => JSON.parse(e.fields.value!).after), [{ id: 1, note: 'é ✓' }, { id: 2, note: 'é ✓' }, { id: 1, note: 'é ✓' }]);
    assert.equal(entries[2]!.fields['h:trace-id'], 't1');
    await sink.writeEncoded([first, second]); // a retried group, as after a crash before the acknowledgement
    assert.equal(sink.duplicates, 3);
    assert.equal((await xrange('encoded.orders')).length, 3);
  } finally {
    await sink.close();
  }
});

test('sink.maxLen caps each stream (XADD MAXLEN ~), records of several streams in one batch each land in their own', async () => {
  const sink = new RedisSink({ url: redis.url, maxLen: 10, timeoutMs: 1000 });
  await sink.open();
  try {
    const record = (topic: string, n: number) => {
      const value = JSON.stringify({ id: `0/4000000:${n}`, op: 'c', after: { id: n } });
      return { id: `0/4000000:${n}`, topic, key: `{"id":${n}}`, headers: {}, value, event: JSON.parse(value) as never };
    };
    const records = Array.from({ length: 600 }, (_, i) => record(i % 3 === 2 ? 'capped.other' : 'capped.main', i + 1));
    await sink.writeEncoded([sink.encode(records)]);
    const main = await xrange('capped.main');
    const other = await xrange('capped.other');
    // Trimming with ~ removes whole nodes of the stream (100 entries by default): fewer than written, at least the cap.
    assert.ok(main.length >= 10 && main.length < 400, `capped.main holds ${main.length}`);
    assert.ok(other.length >= 10 && other.length < 200, `capped.other holds ${other.length}`);
    assert.equal(main.at(-1)!.id, streamEntryId('0/4000000:599'));
    assert.equal(other.at(-1)!.id, streamEntryId('0/4000000:600'));
    assert.equal(JSON.parse(main.at(-1)!.fields.value!).after.id, 599);
  } finally {
    await sink.close();
  }
});

test('Redis out of memory mid-load (maxmemory, noeviction), then given more: every version of every row arrives once, in order', async () => {
  await server.query('CREATE TABLE counters (id int PRIMARY KEY, n int); CREATE PUBLICATION counters FOR TABLE counters');
  const admin = new Redis(redis.url);
  const pipeline = fastRetryPipeline(server.url(), 'redis_oom', 'counters', { type: 'redis', url: redis.url });
  await pipeline.start();
  try {
    await admin.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await server.query('INSERT INTO counters SELECT g, 0 FROM generate_series(1, 20) g');
    await eventually('the first rows', () => xrange('pgcdc.public.counters'), (e) => e.length === 20);
    // Just above what Redis uses now: the next writes are refused with OOM.
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.call('CONFIG', 'SET', 'maxmemory', String(used + 64 * 1024));
    for (let round = 1; round <= 30; round++) await server.query(`UPDATE counters SET n = ${round}`);
    await eventually('a write refused for memory', async () => pipeline.health, (h) => h === 'degraded');
    await admin.call('CONFIG', 'SET', 'maxmemory', '0');
    const entries = await eventually('every version', () => xrange('pgcdc.public.counters'), (e) => e.length === 20 + 20 * 30, 30_000);
    assertEveryVersionOnceInOrder(entries.map((e) => (JSON.parse(e.fields.value!) as { after: { id: number; n: number } }).after), 30);
  } finally {
    await admin.call('CONFIG', 'SET', 'maxmemory', '0');
    admin.disconnect();
    await pipeline.stop();
  }
});

test('rediss:// with a password and a database: TLS checked against the trusted CA, AUTH, SELECT; a wrong password is one line that stops the pipeline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-redis-tls-'));
  // A CA and a server certificate for "localhost", as a real deployment has.
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pgcdc test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
  const port = await freePort();
  const tlsRedis = new ServerProcess('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'no', '--requirepass', 'se:cret'], port);
  await tlsRedis.start();
  await server.query('CREATE TABLE tls_orders (id int PRIMARY KEY); CREATE PUBLICATION tls_pub FOR TABLE tls_orders');
  const write = configWriter(dir);
  const pipelineConfig = (slot: string, password: string) => write(`${slot}.yaml`, `source: { url: "${server.url()}", slot: ${slot}, publication: tls_pub }\nsink: { type: redis, url: "rediss://:${encodeURIComponent(password)}@localhost:${port}/3", timeout: 2s }\nheartbeat: false\n`);
  const running = startCli(['run', '--config', pipelineConfig('tls_ok', 'se:cret')], { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') });
  try {
    await waitForStreaming(running);
    await server.query('INSERT INTO tls_orders VALUES (1), (2)');
    const reader = new Redis({ port, host: 'localhost', password: 'se:cret', db: 3, tls: { ca: readFileSync(join(dir, 'ca.pem')) } });
    try {
      const entries = await eventually('both rows in database 3', async () => reader.xrange('pgcdc.public.tls_orders', '-', '+'), (e) => e.length === 2);
      assert.deepEqual(entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('value') + 1]!).after.id), [1, 2]);
      await reader.select(0);
      assert.equal(await reader.exists('pgcdc.public.tls_orders'), 0, 'nothing in database 0');
    } finally {
      reader.disconnect();
    }
  } finally {
    await stopGracefully(running);
    const refused = await runCli(['run', '--config', pipelineConfig('tls_bad', 'wrong')], { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') }, 20_000);
    await tlsRedis.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.notEqual(refused.code, 0);
    const errors = errorLines(refused.stderr);
    assert.equal(errors.length, 1, refused.stderr);
    assert.match(errors[0]!, /cannot reach Redis at localhost:\d+: WRONGPASS.*; check sink\.url \(its user, password and database\)/);
  }
});
