/**
 * Crash test: pgcdc run is killed with SIGKILL at random moments, five times,
 * during a steady write load, and restarted each time. Afterwards every change
 * in the table must be in the sink (nothing lost); repeats are allowed only as
 * exact re-deliveries of the same event id (the unconfirmed tail).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startCli } from '../support/cli.ts';
import { jsonLines } from '../support/json-lines.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
let dir: string;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE ticks (id bigserial PRIMARY KEY, n int NOT NULL)');
  await server.query('CREATE PUBLICATION ticks FOR TABLE ticks');
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-crash-'));
});
after(async () => { await server?.stop(); });

test('SIGKILL at any point during a steady write load: after restarts every change arrived; repeats are exact re-deliveries', async () => {
  const out = join(dir, 'ticks.jsonl');
  const config = join(dir, 'crash.yaml');
  writeFileSync(config, `
source: { url: "\${DATABASE_URL}", slot: crash, publication: ticks, statusInterval: 100ms }
sink: { type: file, path: "${out}" }
heartbeat: false
retry: { initialDelay: 100ms, maxDelay: 1s }
`);
  const env = { DATABASE_URL: server.url() };
  // The slot exists before the load starts, so every change from here on is owed to the sink.
  const first = startCli(['run', '--config', config], env);
  const deadline = Date.now() + 15_000;
  while (!(await server.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'crash'`)).length) {
    if (Date.now() > deadline) throw new Error(`slot not created: ${first.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // Steady load: small transactions of 1-3 rows every few milliseconds, for the whole test.
  let writing = true;
  const writer = (async () => {
    const client = new pg.Client({ connectionString: server.url() });
    await client.connect();
    let i = 0;
    while (writing) {
      const rows = 1 + (i % 3);
      await client.query(`INSERT INTO ticks (n) SELECT $1::int FROM generate_series(1, ${rows})`, [i++]);
      await new Promise((r) => setTimeout(r, 5));
    }
    await client.end();
  })();

  let running = first;
  let kills = 0;
  for (let round = 0; round < 5; round++) {
    await new Promise((r) => setTimeout(r, 700 + Math.random() * 1300));
    running.child.kill('SIGKILL');
    await running.done;
    kills++;
    running = startCli(['run', '--config', config], env);
  }
  await new Promise((r) => setTimeout(r, 1000));
  writing = false;
  await writer;

  const expected = (await server.query<{ id: string }>('SELECT id::text FROM ticks ORDER BY id')).map((r) => Number(r.id));
  const readEvents = () => jsonLines<{ id: string; op: string; after: { id: number } }>(out);
  const until = Date.now() + 30_000;
  let events = readEvents();
  while (new Set(events.map((e) => e.after.id)).size < expected.length && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    events = readEvents();
  }
  running.child.kill('SIGTERM');
  const final = await running.done;
  assert.equal(final.code, 0, final.stderr);

  events = readEvents();
  const delivered = new Set(events.map((e) => e.after.id));
  const missing = expected.filter((id) => !delivered.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${expected.length} changes missing after ${kills} kills`);
  const byId = new Map<string, string>();
  let repeats = 0;
  for (const line of readFileSync(out, 'utf8').split('\n').filter(Boolean)) {
    const event = JSON.parse(line) as { id: string; op: string; transaction: unknown };
    const id = event.id;
    const previous = byId.get(id);
    if (previous !== undefined) {
      repeats++;
      // Byte for byte (docs/decisions/0010); only a non-transactional message has no time in the WAL.
      const strip = (s: string) => (event.op === 'm' && event.transaction === null ? s.replace(/"ts_ms":\d+/g, '"ts_ms":0') : s);
      assert.equal(strip(line), strip(previous), `event ${id} re-delivered with different content`);
    }
    byId.set(id, line);
  }
  assert.equal(byId.size, expected.length, 'one distinct event id per change');
  console.log(`crash test: ${expected.length} changes, ${kills} SIGKILLs, ${repeats} repeated deliveries, none lost`);
});
