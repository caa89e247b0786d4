/**
 * Backpressure: with a WAL backlog far larger than the queue and a slow
 * consumer, pgcdc stops reading the socket, so what it holds stays bounded.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`CREATE TABLE items (id bigserial PRIMARY KEY, payload text)`);
  await server.query(`CREATE PUBLICATION bp FOR TABLE items`);
  await server.query(`SELECT pg_create_logical_replication_slot('bp', 'pgoutput')`);
  // 60,000 changes in transactions of 50: a backlog the consumer reads slowly.
  await server.query(`DO $$ BEGIN FOR i IN 1..1200 LOOP
      INSERT INTO items (payload) SELECT repeat('p', 100) FROM generate_series(1, 50); COMMIT; END LOOP; END $$`);
});
after(async () => { await server?.stop(); });

test('a slow consumer pauses reading: queued events stay bounded over a large backlog', async () => {
  const maxQueued = 500;
  const stream = await ChangeStream.open({ connection: server.url(), slot: 'bp', publication: 'bp', maxQueuedEvents: maxQueued, batchSize: 100 });
  let received = 0;
  let peakQueued = 0;
  let pausedSeen = 0;
  const session = (stream as unknown as { session: { paused: boolean } }).session;
  try {
    for await (const batch of stream) {
      peakQueued = Math.max(peakQueued, stream.stats.queuedEvents);
      if (session.paused) pausedSeen++;
      received += batch.events.length;
      batch.confirm();
      if (received % 1000 === 0) await new Promise((r) => setTimeout(r, 5)); // a slow sink
      if (received >= 60_000) break;
    }
  } finally {
    await stream.stop();
  }
  assert.equal(received, 60_000);
  assert.ok(pausedSeen > 0, 'the socket was paused while the consumer was behind');
  // One socket read may complete up to a few hundred small transactions past the mark.
  assert.ok(peakQueued < maxQueued + 2000, `peak queued ${peakQueued} stays near the limit ${maxQueued}`);
});
