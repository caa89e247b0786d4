/** `pgcdc run`: real PostgreSQL, a real nats-server with JetStream, a real JetStream consumer reading back. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { configWriter, startCli, stopGracefully } from '../support/cli.ts';
import { eventually } from '../support/collect.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { startNats, type TestNats } from '../support/nats.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
/** Started by the first test that needs it: the file-sink and config tests run without nats-server. */
let natsServer: Promise<TestNats> | undefined;
const useNats = () => (natsServer ??= startNats());
let dir: string;
const writeConfig = (name: string, text: string) => configWriter(dir)(name, text);

before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`CREATE TABLE orders (id int PRIMARY KEY, status text); CREATE PUBLICATION app FOR TABLE orders`);
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-run-'));
});
after(async () => {
  if (natsServer) await (await natsServer.catch(() => undefined))?.dispose();
  await server?.stop();
});

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const confirmed = (slot: string) => confirmedLsn(server, slot);

describe('pgcdc run', () => {
  test('file sink: events land fsynced as Debezium JSON lines; SIGTERM drains, acknowledges and exits 0; dead letters go to their file', async () => {
    const out = join(dir, 'events.jsonl');
    const dead = join(dir, 'dead.jsonl');
    const config = writeConfig('file.yaml', `
source:
  url: \${DATABASE_URL}
  slot: to_file
  publication: app
  statusInterval: 200ms
sink:
  type: file
  path: ${out}
deadLetter:
  type: file
  path: ${dead}
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    await eventually('the pipeline to create its slot', () => confirmed('to_file'), (lsn) => lsn !== undefined);
    await server.query(`INSERT INTO orders VALUES (1, 'PLACED'), (2, 'PLACED')`);
    await server.query(`SELECT pg_logical_emit_message(true, 'outbox', 'not json')`);
    await server.query(`UPDATE orders SET status = 'PAID' WHERE id = 1`);
    await eventually('three events in the file', async () => lines(out).length, (n) => n >= 3);
    const before = await currentWalLsn(server);
    assert.equal(await stopGracefully(running), 0, running.stderr());
    // Not on a terminal: structured JSON logs, one object per line.
    const logs = running.stderr().trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; pipeline?: string; time: string });
    assert.ok(logs.some((l) => /streaming slot to_file to file/.test(l.msg) && l.pipeline === 'to_file'));
    const last = logs[logs.length - 1]!;
    assert.match(last.msg, /stopped after 3 events/);
    assert.equal((last as unknown as { deadLetters: number }).deadLetters, 1);
    const events = lines(out);
    assert.deepEqual(events.map((e) => `${e.op} ${e.after.id} ${e.after.status}`), ['c 1 PLACED', 'c 2 PLACED', 'u 1 PAID']);
    assert.equal(lines(dead)[0].stage, 'outbox');
    const slotAt = await confirmed('to_file');
    assert.ok(slotAt !== undefined && BigInt(`0x${slotAt.replace('/', '')}`) >= 0n);
    assert.ok(parseLsn(slotAt!) >= parseLsn(before!) - 200n, `acknowledged ${slotAt} after SIGTERM`);
  });

  test('source.memoryBudget and source.spillDir: a transaction past the budget spills there and arrives whole, in order; an unusable spill directory is one PGCDC_SPILL_IO line', async () => {
    await server.query(`CREATE TABLE big (id int PRIMARY KEY, note text); CREATE PUBLICATION big_pub FOR TABLE big`);
    const blocked = join(dir, 'not-a-directory');
    writeFileSync(blocked, 'a file where the spill directory should be\n');
    const spillDir = join(dir, 'spill');
    mkdirSync(spillDir);
    const config = (name: string, slot: string, spill: string, out: string) => writeConfig(name, `
source:
  url: \${DATABASE_URL}
  slot: ${slot}
  publication: big_pub
  statusInterval: 200ms
  memoryBudget: 64KiB
  spillDir: ${spill}
sink:
  type: file
  path: ${out}
heartbeat: false
snapshot: { mode: never }
`);
    const out = join(dir, 'big.jsonl');
    const running = startCli(['run', '--config', config('spill.yaml', 'spills', spillDir, out)], { DATABASE_URL: server.url() });
    await eventually('the pipeline to create its slot', () => confirmed('spills'), (lsn) => lsn !== undefined);
    const failing = startCli(['run', '--config', config('spill-blocked.yaml', 'spill_blocked', blocked, join(dir, 'never.jsonl'))], { DATABASE_URL: server.url() });
    await eventually('the second pipeline to create its slot', () => confirmed('spill_blocked'), (lsn) => lsn !== undefined);
    // 3,000 rows of about 100 bytes: about 1.8 MB of estimated heap, far past 64 KiB.
    await server.query(`INSERT INTO big SELECT g, repeat('n', 100) || g FROM generate_series(1, 3000) g`);
    await eventually('3,000 events in the file', async () => lines(out).length, (n) => n >= 3000, 30_000);
    assert.deepEqual(lines(out).map((e) => e.after.id), Array.from({ length: 3000 }, (_, i) => i + 1));
    assert.equal(await stopGracefully(running), 0, running.stderr());
    assert.deepEqual(readdirSync(spillDir), [], 'the spill file was removed once its transaction was delivered');
    await eventually('one PGCDC_SPILL_IO line naming the directory', async () => failing.stderr(), (text) => text.includes('PGCDC_SPILL_IO') && text.includes(blocked) && text.includes('source.spillDir'), 30_000);
    await stopGracefully(failing);
    assert.equal(lines(join(dir, 'never.jsonl')).length, 0);
    const unconfirmed = await confirmed('spill_blocked');
    assert.ok(parseLsn(unconfirmed!) < parseLsn((await confirmed('spills'))!), 'the failing pipeline acknowledged nothing of the transaction');
  });

  test("NATS JetStream: the article's outbox message arrives on its subject with message_id and Nats-Msg-Id; table events on pgcdc.public.orders", async () => {
    const nats = await useNats();
    const config = writeConfig('nats.yaml', `
source: { url: "\${DATABASE_URL}", slot: to_nats, publication: app, statusInterval: 200ms }
sink:
  type: nats
  servers: ["${nats.url}"]
  stream: PGCDC
  streamSubjects: ["pgcdc.>", "outbox.>"]
outbox: { topicTemplate: "outbox.{aggregate_type}" }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('to_nats'), (lsn) => lsn !== undefined);
      await server.query(`BEGIN; INSERT INTO orders VALUES (42, 'SHIPPED'); SELECT pg_logical_emit_message(true, 'outbox', '{"id":"298c2cc3-71bb-4d2b-b5b4-1b14006d56e6","aggregate_type":"shipment","aggregate_id":42,"payload":{"customer_id":7398,"status":"SHIPPED"}}'); COMMIT`);
      const messages = await nats.readStream('PGCDC', 2);
      assert.equal(messages.length, 2, running.stderr());
      const [row, outbox] = messages;
      assert.equal(row!.subject, 'pgcdc.public.orders');
      assert.equal(JSON.parse(row!.data).after.id, 42);
      assert.equal(row!.headers['Pgcdc-Key'], '{"id":42}');
      assert.match(row!.headers['Nats-Msg-Id']!, /^[0-9A-F]+\/[0-9A-F]+:1$/);
      assert.equal(outbox!.subject, 'outbox.shipment');
      assert.equal(outbox!.headers.message_id, '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6');
      assert.equal(outbox!.headers['Pgcdc-Key'], '42');
      assert.equal(outbox!.data, '{"customer_id":7398,"status":"SHIPPED"}');
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('NATS down: nothing is acknowledged or lost, /readyz says degraded, everything arrives once NATS is back', async () => {
    const nats = await useNats();
    const port = await freePort();
    const config = writeConfig('nats-down.yaml', `
source: { url: "\${DATABASE_URL}", slot: nats_down, publication: app, statusInterval: 200ms }
sink: { type: nats, servers: ["${nats.url}"], stream: DOWN, streamSubjects: ["down.>"], subject: "down.{schema}.{table}", timeout: 1s }
retry: { initialDelay: 100ms, maxDelay: 1s }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
metrics: { port: ${port} }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('nats_down'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (100, 'A')`);
      await eventually('the first event in NATS', async () => (await nats.readStream('DOWN', 1)).length, (n) => n === 1);
      await nats.stop();
      for (let i = 101; i <= 110; i++) await server.query(`INSERT INTO orders VALUES (${i}, 'B')`);
      await eventually('readyz to report degraded', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status, (s) => s === 503);
      await new Promise((r) => setTimeout(r, 1000)); // several status intervals
      const whileDown = await confirmed('nats_down');
      await nats.start();
      await eventually('all eleven events in NATS', async () => (await nats.readStream('DOWN', 11)).length, (n) => n === 11, 20_000);
      const events = (await nats.readStream('DOWN', 11)).map((m) => JSON.parse(m.data) as { after: { id: number }; source: { lsn: number } });
      assert.deepEqual(events.map((e) => e.after.id), Array.from({ length: 11 }, (_, i) => 100 + i));
      // Not past the first change NATS did not have (pgcdc's own writes, its delivered-position record, may come before it).
      const firstUndelivered = BigInt(events[1]!.source.lsn);
      assert.ok(parseLsn(whileDown!) <= firstUndelivered, `acknowledged ${whileDown} must not pass the first undelivered change at ${firstUndelivered}`);
      await eventually('readyz back to ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status, (s) => s === 200);
      assert.match(running.stderr(), /NATS publish failed|cannot reach NATS/);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /pgcdc_sink_retries_total\{slot="nats_down",sink="nats"\} [1-9]\d*/);
      assert.match(metrics, /pgcdc_sink_records_total\{slot="nats_down",sink="nats",table="public.orders"\} 11/);
      assert.match(metrics, /pgcdc_sink_bytes_total\{slot="nats_down",sink="nats",table="public.orders"\} [1-9]\d+/);
      assert.match(metrics, /pgcdc_events_total\{slot="nats_down",table="public.orders",op="c"\} 11/);
      assert.match(metrics, /pgcdc_lag_seconds\{slot="nats_down"\} \d/);
      assert.match(metrics, /pgcdc_sink_write_seconds_count\{slot="nats_down",sink="nats"\} [1-9]\d*/);
      assert.match(metrics, /pgcdc_sink_write_seconds_bucket\{le="30",slot="nats_down",sink="nats"\} [1-9]\d*/);
    } finally {
      await stopGracefully(running);
    }
  });

  test('NATS connection cut again and again while two writes are in flight: every change arrives once, in order per row', async () => {
    const nats = await useNats();
    await server.query(`CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); CREATE PUBLICATION counters FOR TABLE counters`);
    const proxy = await startTcpProxy(nats.port);
    const config = writeConfig('nats-cuts.yaml', `
source: { url: "\${DATABASE_URL}", slot: nats_cuts, publication: counters, statusInterval: 200ms }
sink: { type: nats, servers: ["127.0.0.1:${proxy.port}"], stream: CUTS, streamSubjects: ["cuts.>"], subject: "cuts.{schema}.{table}", timeout: 2s }
retry: { initialDelay: 20ms, maxDelay: 200ms }
heartbeat: false
snapshot: { mode: never }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    const rows = 20;
    const rounds = 800;
    try {
      await eventually('the pipeline to create its slot', () => confirmed('nats_cuts'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO counters SELECT id, 0 FROM generate_series(1, ${rows}) AS id`);
      // Each round is a transaction that moves every row's n one up: per row, n must arrive as 0, 1, 2, ...
      const load = server.query(`DO $$ BEGIN FOR i IN 1..${rounds} LOOP UPDATE counters SET n = n + 1; COMMIT; END LOOP; END $$`);
      let loading = true;
      void load.finally(() => { loading = false; });
      let cuts = 0;
      while (loading || cuts < 5) {
        await new Promise((r) => setTimeout(r, 60 + Math.random() * 60));
        proxy.partition();
        cuts++;
        await new Promise((r) => setTimeout(r, 20));
        proxy.heal();
      }
      await load;
      const total = rows * (rounds + 1);
      await eventually('every change in the stream', () => nats.messageCount('CUTS'), (n) => n >= total, 60_000);
      const seen = new Map<number, number[]>();
      for (const m of await nats.readStream('CUTS', total + 1)) {
        const { id, n } = JSON.parse(m.data).after as { id: number; n: number };
        seen.set(id, [...(seen.get(id) ?? []), n]);
      }
      const expected = Array.from({ length: rounds + 1 }, (_, i) => i);
      for (let id = 1; id <= rows; id++) assert.deepEqual(seen.get(id), expected, `row ${id}: versions out of order, missing or repeated`);
      assert.match(running.stderr(), /connection to NATS was lost|cannot reach NATS/, `${cuts} cuts and no failed write`);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await proxy.close();
    }
  });

  test('CloudEvents binary mode: ce_ attributes arrive as NATS headers, the data as the message', async () => {
    const nats = await useNats();
    const config = writeConfig('ce.yaml', `
source: { url: "\${DATABASE_URL}", slot: to_ce, publication: app, statusInterval: 200ms }
sink: { type: nats, servers: ["${nats.url}"], stream: CE, streamSubjects: ["ce.>"], subject: "ce.{schema}.{table}" }
envelope: cloudevents-binary
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('to_ce'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (500, 'CE')`);
      const [message] = await nats.readStream('CE', 1);
      assert.ok(message, running.stderr());
      assert.equal(message.headers.ce_specversion, '1.0');
      assert.equal(message.headers.ce_type, 'io.pgcdc.change.create');
      assert.equal(message.headers.ce_subject, 'public.orders');
      assert.equal(message.headers.ce_id, message.headers['Nats-Msg-Id']);
      assert.equal(JSON.parse(message.data).after.id, 500);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('pgcdc.config.ts: the config is code, its transforms are functions; a YAML config names transform modules relative to itself', async () => {
    const out = join(dir, 'ts-config.jsonl');
    const index = new URL('../../src/index.ts', import.meta.url).href;
    writeFileSync(join(dir, 'pgcdc.config.ts'), `
import { defineConfig } from '${index}';
import type { ChangeEvent } from '${index}';

const shout = (event: ChangeEvent) => {
  if (event.after && typeof event.after.status === 'string') event.after.status = event.after.status.toUpperCase();
  return event;
};

export default defineConfig({
  source: { url: process.env.DATABASE_URL, slot: 'ts_config', publication: 'app', statusInterval: '200ms' },
  sink: { type: 'file', path: ${JSON.stringify(out)} },
  heartbeat: false,
  snapshot: { mode: 'never' },
  transforms: [shout, (event: ChangeEvent) => (event.after?.id === 13 ? null : event)],
});
`);
    const running = startCli(['run', '--config', join(dir, 'pgcdc.config.ts')], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('ts_config'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (12, 'quiet'), (13, 'dropped'), (14, 'also quiet')`);
      await eventually('two events', async () => lines(out).length, (n) => n >= 2);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
    assert.deepEqual(lines(out).map((e) => `${e.after.id} ${e.after.status}`), ['12 QUIET', '14 ALSO QUIET']);

    const sub = join(dir, 'conf');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'mask.mjs'), `export default (event) => { if (event.after) event.after.status = '***'; return event; };`);
    const yamlOut = join(dir, 'yaml-transform.jsonl');
    writeFileSync(join(sub, 'pgcdc.yaml'), `
source: { url: "\${DATABASE_URL}", slot: yaml_transform, publication: app, statusInterval: 200ms }
sink: { type: file, path: "${yamlOut}" }
transforms: ["./mask.mjs"]
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const second = startCli(['run', '--config', join(sub, 'pgcdc.yaml')], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('yaml_transform'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (15, 'secret')`);
      await eventually('one event', async () => lines(yamlOut).length, (n) => n >= 1);
    } finally {
      assert.equal(await stopGracefully(second), 0, second.stderr());
    }
    assert.equal(lines(yamlOut)[0].after.status, '***');
  });

  test('replication connection lost, then the slot busy at the first reopen: pgcdc keeps retrying and nothing is lost', async () => {
    const out = join(dir, 'reconnect.jsonl');
    const config = writeConfig('reconnect.yaml', `
source: { url: "\${DATABASE_URL}", slot: reconnect, publication: app, statusInterval: 200ms }
sink: { type: file, path: "${out}" }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
retry: { initialDelay: 1s, maxDelay: 2s }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('reconnect'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (700, 'before')`);
      await eventually('the first event', async () => lines(out).length, (n) => n === 1);
      // Drop pgcdc's replication connection, and take the slot before pgcdc can reopen it.
      await server.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'reconnect'`);
      const holder = await ChangeStream.open({ connection: server.url(), slot: 'reconnect', publication: 'app', heartbeat: false, createSlot: false });
      for (let i = 701; i <= 705; i++) await server.query(`INSERT INTO orders VALUES (${i}, 'while away')`);
      await eventually('a failed reopen (slot in use)', async () => running.stderr(), (text) => /PGCDC_SLOT_IN_USE|in use by process/.test(text), 20_000);
      await holder.stop(); // it acknowledged nothing
      await eventually('all six changes', async () => new Set(lines(out).map((e) => e.after.id)).size, (n) => n === 6, 30_000);
      assert.deepEqual([...new Set(lines(out).map((e) => e.after.id))], [700, 701, 702, 703, 704, 705]);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('bad config: every problem on its own line, exit 2, no secret in the output', async () => {
    const config = writeConfig('bad.yaml', `source: { url: "postgresql://u:topsecret@h/db", slot: Bad }\nsink: { type: nats, servers: localhost }\n`);
    const result = await startCli(['run', '--config', config]).done;
    assert.equal(result.code, 2);
    assert.match(result.stderr, /PGCDC_CONFIG: .*bad\.yaml: 2 problems:\n {2}source\.slot: .*\n {2}sink\.servers: expected a list of host:port/);
    assert.doesNotMatch(result.stderr, /topsecret/);
  });
});

