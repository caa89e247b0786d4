/**
 * A JetStream stream that fills up mid-load (max_msgs with discard "new"), then
 * is given room: pgcdc holds and retries, and when it resumes every version of
 * every row is in the stream once, in order (issue 20's partial-refusal case).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, DiscardPolicy } from '@nats-io/jetstream';
import { assertEveryVersionOnceInOrder, fastRetryPipeline } from '../support/versions.ts';
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
