/**
 * A JetStream stream that fills up mid-load (max_msgs with discard "new"), then
 * is given room: pgcdc holds and retries, and when it resumes every version of
 * every row is in the stream once, in order (issue 20's partial-refusal case).
 * And the harder case: a full work-queue stream that a consumer drains while
 * pgcdc writes, so nats-server refuses some records of a write and stores later
 * ones; a row's later version must not be stored before its refused earlier one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy, DiscardPolicy, RetentionPolicy } from '@nats-io/jetstream';
import { assertEveryVersionOnceInOrder, fastRetryPipeline, writeHotRows } from '../support/versions.ts';
import { eventually } from '../support/collect.ts';
import { startNats, type TestNats } from '../support/nats.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { startTogether } from '../support/servers.ts';

let server: TestPostgres;
let nats: TestNats;
before(async () => {
  [server, nats] = await startTogether<[TestPostgres, TestNats]>([() => startPostgres(latestMajor()), () => startNats()], (s) => ('dispose' in s ? s.dispose() : s.stop()));
  await server.query('CREATE TABLE counters (id int PRIMARY KEY, n int); CREATE PUBLICATION counters FOR TABLE counters');
});
after(async () => {
  await nats?.dispose();
  await server?.stop();
});

test('a stream full mid-load, then raised: every version of every row once, in order', async () => {
  const client = await connect({ servers: nats.url });
  const manager = await jetstreamManager(client);
  await manager.streams.add({ name: 'FULL', subjects: ['pgcdc.>'], max_msgs: 150, discard: DiscardPolicy.New });
  const pipeline = fastRetryPipeline(server.url(), 'nats_full', 'counters', { type: 'nats', servers: [nats.url], timeout: '5s' });
  await pipeline.start();
  try {
    const rows = 20;
    const rounds = 30;
    await server.query(`INSERT INTO counters SELECT g, 0 FROM generate_series(1, ${rows}) g`);
    // Rounds in separate transactions and in one big one: the refusals fall inside writes.
    for (let round = 1; round <= rounds / 2; round++) await server.query(`UPDATE counters SET n = ${round}`);
    await server.query(`BEGIN; ${Array.from({ length: rounds / 2 }, (_, i) => `UPDATE counters SET n = ${rounds / 2 + i + 1};`).join(' ')} COMMIT`);
    await eventually('a write refused for a full stream', async () => pipeline.health, (h) => h === 'degraded');
    const info = await manager.streams.info('FULL');
    await manager.streams.update('FULL', { ...info.config, max_msgs: -1 });
    const total = rows * (rounds + 1);
    await eventually('every version in the stream', async () => (await manager.streams.info('FULL')).state.messages, (n) => n >= total, 30_000);
    await pipeline.stop(); // every write settled: nothing more can arrive
    assert.equal(await nats.messageCount('FULL'), total, 'each version once (re-sent records dropped by Nats-Msg-Id)');
    const messages = await nats.readStream('FULL', total);
    assertEveryVersionOnceInOrder(messages.map((m) => (JSON.parse(m.data) as { after: { id: number; n: number } }).after), rounds);
  } finally {
    await pipeline.stop();
    await client.close();
  }
});

test('a full work-queue stream drained while pgcdc writes (refusals that clear inside a write): every version once, in order', async () => {
  await server.query('CREATE TABLE hot (id int PRIMARY KEY, n int); CREATE PUBLICATION hot FOR TABLE hot');
  const client = await connect({ servers: nats.url });
  const manager = await jetstreamManager(client);
  // Room for 40 messages; each ack of the consumer below frees one. Refusals and
  // acceptances then alternate inside pgcdc's writes.
  await manager.streams.delete('FULL').catch(() => undefined); // it captures pgcdc.>
  await manager.streams.add({ name: 'WQ', subjects: ['pgcdc.public.hot'], retention: RetentionPolicy.Workqueue, max_msgs: 40, discard: DiscardPolicy.New });
  await manager.consumers.add('WQ', { durable_name: 'drain', ack_policy: AckPolicy.Explicit });
  const consumer = await jetstream(client).consumers.get('WQ', 'drain');
  const read: Array<{ id: number; n: number }> = [];
  let draining = true;
  const drain = (async () => {
    while (draining) {
      const batch = await consumer.fetch({ max_messages: 7, expires: 1000 });
      for await (const message of batch) {
        read.push((message.json() as { after: { id: number; n: number } }).after);
        await message.ackAck();
      }
      await new Promise((r) => setTimeout(r, 3));
    }
  })();
  const pipeline = fastRetryPipeline(server.url(), 'nats_wq', 'hot', { type: 'nats', servers: [nats.url], timeout: '5s' });
  await pipeline.start();
  try {
    const rounds = 60;
    const inOneTransaction = await writeHotRows((sql) => server.query(sql), 'hot', 10, rounds);
    for (let round = 1; round <= 10; round++) await server.query(`UPDATE hot SET n = ${rounds + round}`);
    const total = inOneTransaction + 10 * 10;
    await eventually('every version read', async () => read.length, (n) => n >= total, 60_000);
    await pipeline.stop();
    draining = false;
    await drain;
    assert.equal(read.length, total, 'each version once (re-sent records dropped by Nats-Msg-Id)');
    assertEveryVersionOnceInOrder(read, rounds + 10);
  } finally {
    draining = false;
    await pipeline.stop();
    await drain.catch(() => undefined);
    await client.close();
  }
});
