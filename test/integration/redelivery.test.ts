/**
 * Re-deliveries are byte for byte the first delivery (docs/decisions/0010): a
 * stream that stops before confirming and opens again on the same slot gets the
 * same changes as the same JSON, whatever time it is.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringifyExact } from '../../src/core/json.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres(latestMajor());
  await pg.query('CREATE TABLE items (id int PRIMARY KEY, body json, at timestamptz DEFAULT now()); CREATE PUBLICATION again_pub FOR TABLE items');
  await pg.query(`SELECT pg_create_logical_replication_slot('again', 'pgoutput')`);
});
after(async () => { await pg?.stop(); });

test('a stream opened again on an unconfirmed slot delivers the same events, byte for byte', async () => {
  await pg.query(`BEGIN; INSERT INTO items (id, body) SELECT g, '{"k": 1, "k": 2}' FROM generate_series(1, 50) g;
    SELECT pg_logical_emit_message(true, 'app', 'in the transaction'); UPDATE items SET body = '[1e400]' WHERE id = 7; DELETE FROM items WHERE id = 9; COMMIT`);
  const read = async () => {
    const stream = await ChangeStream.open({ connection: pg.url(), slot: 'again', publication: 'again_pub', createSlot: false, heartbeat: false });
    try {
      const lines: string[] = [];
      for await (const batch of stream) { // never confirmed: the slot stays where it was
        lines.push(...batch.events.map((event) => stringifyExact(event)));
        if (lines.length >= 53) break;
      }
      return lines;
    } finally {
      await stream.stop();
    }
  };
  const first = await read();
  await sleep(30); // a build time would differ now
  const second = await read();
  assert.equal(first.length, 53);
  assert.deepEqual(second, first);
  assert.ok(first.every((line) => /"ts_ms":(\d+),.*"ts_ms":\1,"transaction"/.test(line)), 'ts_ms is the commit time');
});
