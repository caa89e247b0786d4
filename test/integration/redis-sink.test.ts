/** The Redis Streams sink against a real redis-server, through a pipeline on a real PostgreSQL. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/load-config.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { RedisSink, streamEntryId } from '../../src/sink/redis-sink.ts';
import { eventually } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
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
