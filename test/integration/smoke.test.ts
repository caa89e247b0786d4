import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let pg: TestPostgres;
before(async () => { pg = await startPostgres(latestMajor()); });
after(async () => { await pg?.stop(); });

test('smoke: insert arrives', async () => {
  await pg.query('CREATE TABLE t (id int primary key, v text)');
  const stream = await ChangeStream.open({ connection: pg.url(), slot: 'smoke', publication: 'smoke_pub', temporary: false, statusIntervalMs: 200 });
  await pg.query("INSERT INTO t VALUES (1, 'a')");
  for await (const batch of stream) {
    console.log(JSON.stringify(batch.events));
    assert.equal(batch.events[0]!.op, 'c');
    batch.confirm();
    break;
  }
  await stream.stop();
});
