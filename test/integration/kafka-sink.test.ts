/**
 * `pgcdc run` to Kafka: real PostgreSQL, librdkafka's mock cluster hosted by kcat
 * (no Kafka broker runs here, ../shared/TESTING.md), and kcat reading back.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configWriter, runCli, startCli, stopGracefully } from '../support/cli.ts';
import { parseConfig } from '../../src/config/load-config.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { eventually } from '../support/collect.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { startKafkaMock, type TestKafka } from '../support/kafka.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
let kafka: TestKafka;
let dir: string;
const writeConfig = (name: string, text: string) => configWriter(dir)(name, text);

before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`CREATE TABLE orders (id int PRIMARY KEY, status text, note text); CREATE PUBLICATION app FOR TABLE orders`);
  kafka = await startKafkaMock();
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-kafka-'));
});
after(async () => {
  await kafka?.dispose();
  await server?.stop();
});


const confirmed = (slot: string) => confirmedLsn(server, slot);


const SHIPMENT = '{"customer_id":7398,"item_id":8123,"status":"SHIPPED","numberOfPackages":3,"address":"Bob Summers, 12 Main St., 90210, Los Angeles/CA, US"}';

describe('pgcdc run → Kafka', () => {
  test("the article's outbox message: kcat -C -t shipment -f '%k -- %h -- %s\\n' prints key 42, the message_id header and the payload; table events go to pgcdc.public.orders keyed by the primary key", async () => {
    const config = writeConfig('kafka.yaml', `
source: { url: "\${DATABASE_URL}", slot: to_kafka, publication: app, statusInterval: 200ms }
sink:
  type: kafka
  brokers: [${kafka.bootstrap.split(',').map((b) => `"${b}"`).join(', ')}]
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('to_kafka'), (lsn) => lsn !== undefined);
      await server.query(`BEGIN;
        INSERT INTO orders VALUES (42, 'SHIPPED');
        SELECT pg_logical_emit_message(true, 'outbox', '{"id":"298c2cc3-71bb-4d2b-b5b4-1b14006d56e6","aggregate_type":"shipment","aggregate_id":42,"payload":${SHIPMENT}}');
        COMMIT`);
      const shipment = await eventually('the outbox record on topic shipment', () => kafka.consume('shipment', '%k -- %h -- %s\\n'), (out) => out.trim() !== '');
      assert.equal(shipment, `42 -- message_id=298c2cc3-71bb-4d2b-b5b4-1b14006d56e6 -- ${SHIPMENT}\n`);
      const row = (await kafka.consume('pgcdc.public.orders', '%k\\t%s\\n')).trim().split('\n');
      assert.equal(row.length, 1, running.stderr());
      const [key, value] = row[0]!.split('\t');
      assert.equal(key, '{"id":42}');
      const event = JSON.parse(value!);
      assert.equal(event.op, 'c');
      assert.deepEqual(event.after, { id: 42, status: 'SHIPPED', note: null });
      assert.equal(event.source.table, 'orders');
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('order per key: 200 updates of 5 rows arrive in commit order on one partition per key; the slot is acknowledged only after delivery', async () => {
    const config = writeConfig('order.yaml', `
source: { url: "\${DATABASE_URL}", slot: kafka_order, publication: app, statusInterval: 200ms }
sink: { type: kafka, brokers: ["${kafka.bootstrap.split(',')[0]}"], topic: "order.{table}" }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('kafka_order'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders SELECT g, 'v0' FROM generate_series(1000, 1004) g`);
      for (let v = 1; v <= 39; v++) await server.query(`UPDATE orders SET status = 'v${v}' WHERE id BETWEEN 1000 AND 1004`);
      const end = await currentWalLsn(server);
      const out = await eventually('200 records', () => kafka.consume('order.orders', '%p\\t%k\\t%s\\n'), (o) => o.trim().split('\n').length >= 200);
      const byKey = new Map<string, { partitions: Set<string>; statuses: string[] }>();
      for (const line of out.trim().split('\n')) {
        const [partition, key, value] = line.split('\t') as [string, string, string];
        let entry = byKey.get(key);
        if (entry === undefined) byKey.set(key, entry = { partitions: new Set(), statuses: [] });
        entry.partitions.add(partition);
        entry.statuses.push(JSON.parse(value).after.status);
      }
      assert.equal(byKey.size, 5);
      const expected = Array.from({ length: 40 }, (_, v) => `v${v}`);
      for (const [key, entry] of byKey) {
        assert.equal(entry.partitions.size, 1, `${key} spread over partitions ${[...entry.partitions]}`);
        assert.deepEqual(entry.statuses, expected, `order of ${key}`);
      }
      await eventually('the slot to be acknowledged past the last update', async () => parseLsn((await confirmed('kafka_order'))!), (lsn) => lsn >= parseLsn(end));
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('a record larger than maxMessageBytes goes to the dead-letter file with the reason; the rest is delivered', async () => {
    const dead = join(dir, 'kafka-dead.jsonl');
    const config = writeConfig('big.yaml', `
source: { url: "\${DATABASE_URL}", slot: kafka_big, publication: app, statusInterval: 200ms }
sink: { type: kafka, brokers: ["${kafka.bootstrap.split(',')[0]}"], topic: "big.{table}", maxMessageBytes: 2000 }
deadLetter: { type: file, path: "${dead}" }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('kafka_big'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (2000, 'small', 'x'), (2001, 'big', repeat('x', 5000)), (2002, 'small', 'y')`);
      const out = await eventually('two records', () => kafka.consume('big.orders', '%s\\n'), (o) => o.trim().split('\n').length >= 2);
      // Different keys, different partitions: kcat reads partitions in any order.
      assert.deepEqual(out.trim().split('\n').map((l) => JSON.parse(l).after.id).sort(), [2000, 2002]);
      await eventually('the dead letter', async () => existsSync(dead) ? readFileSync(dead, 'utf8') : '', (t) => t.includes('2001'));
      const letter = JSON.parse(readFileSync(dead, 'utf8').trim());
      assert.match(letter.reason, /larger than sink.maxMessageBytes \(2000\)/);
      assert.equal(letter.stage, `sink kafka ${kafka.bootstrap.split(',')[0]}`);
      assert.equal(letter.event.after.id, 2001);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('Kafka hangs mid-stream: the batch times out and is retried, nothing is acknowledged past it, and once Kafka answers again every change arrives in order', async () => {
    const hung = await startKafkaMock(1);
    const config = parseConfig({
      source: { url: server.url(), slot: 'kafka_hang', publication: 'app', statusInterval: '100ms' },
      sink: { type: 'kafka', brokers: [hung.bootstrap], topic: 'hang.{table}', timeout: '2s' },
      heartbeat: false,
      snapshot: { mode: 'never' },
      retry: { initialDelay: '100ms', maxDelay: '500ms' },
    });
    const pipeline = createPipeline(config.pipelines[0]!);
    await pipeline.start();
    try {
      await server.query(`INSERT INTO orders VALUES (3000, 'before')`);
      await eventually('the first record', () => hung.consume('hang.orders', '%s\\n'), (o) => o.includes('"before"'));
      const beforeHang = await currentWalLsn(server);
      await eventually('the slot past the first record', async () => parseLsn((await confirmed('kafka_hang'))!), (lsn) => lsn >= parseLsn(beforeHang));

      hung.pause();
      await server.query(`INSERT INTO orders VALUES (3001, 'while hung')`);
      await server.query(`UPDATE orders SET status = 'still hung' WHERE id = 3001`);
      const written = await currentWalLsn(server);
      await eventually('a failed delivery (message timeout) and a retry', async () => pipeline.health, (h) => h === 'degraded', 20_000);
      // Several status intervals while the batch is failing: the slot must stay before the changes.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(parseLsn((await confirmed('kafka_hang'))!) < parseLsn(written), 'the slot was acknowledged past changes Kafka never confirmed');

      hung.resume();
      const out = await eventually('the changes made while Kafka hung', () => hung.consume('hang.orders', '%s\\n'), (o) => o.includes('"still hung"'), 30_000);
      // At least once, in order: a retry may repeat what the hung broker had taken, never reorder it.
      const statuses = out.trim().split('\n').map((l) => JSON.parse(l).after.status as string).filter((s) => s !== 'before');
      assert.equal(statuses.at(-1), 'still hung', statuses.join(', '));
      assert.ok(statuses.includes('while hung'), statuses.join(', '));
      assert.ok(statuses.indexOf('while hung') < statuses.lastIndexOf('still hung'), statuses.join(', '));
      await eventually('healthy again', async () => pipeline.health, (h) => h === 'running', 20_000);
      await eventually('the slot past the changes', async () => parseLsn((await confirmed('kafka_hang'))!), (lsn) => lsn >= parseLsn(written));
    } finally {
      await pipeline.stop();
      await hung.dispose();
    }
  });

  test("a write larger than librdkafka's queue (queue.buffering.max.messages: 10) waits for room: 60 versions of a row in one transaction arrive once each, in order", async () => {
    const config = writeConfig('small-queue.yaml', `
source: { url: "\${DATABASE_URL}", slot: kafka_small_queue, publication: app, statusInterval: 200ms }
sink: { type: kafka, brokers: ["${kafka.bootstrap.split(',')[0]}"], topic: "smallq.{table}", librdkafka: { "queue.buffering.max.messages": 10 } }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('kafka_small_queue'), (lsn) => lsn !== undefined);
      const updates = Array.from({ length: 59 }, (_, v) => `UPDATE orders SET status = 'v${v + 1}' WHERE id = 4000;`).join('\n');
      await server.query(`BEGIN; INSERT INTO orders VALUES (4000, 'v0'); ${updates} COMMIT;`);
      const end = await currentWalLsn(server);
      const out = await eventually('60 records', () => kafka.consume('smallq.orders', '%s\\n'), (o) => o.trim().split('\n').length >= 60);
      assert.deepEqual(out.trim().split('\n').map((l) => JSON.parse(l).after.status), Array.from({ length: 60 }, (_, v) => `v${v}`));
      await eventually('the slot past the transaction', async () => parseLsn((await confirmed('kafka_small_queue'))!), (lsn) => lsn >= parseLsn(end));
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
  });

  test('unreachable brokers: one line that says what to check, exit 8, no slot created', async () => {
    const config = writeConfig('unreachable.yaml', `
source: { url: "\${DATABASE_URL}", slot: kafka_unreachable, publication: app }
sink: { type: kafka, brokers: ["127.0.0.1:1"], timeout: 2s }
`);
    const result = await runCli(['run', '--config', config], { DATABASE_URL: server.url() });
    assert.equal(result.code, 8, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^pgcdc: error PGCDC_SINK: cannot reach Kafka \(127\.0\.0\.1:1: ECONNREFUSED\); check sink\.brokers/);
    assert.equal(await confirmed('kafka_unreachable'), undefined, 'no slot is created before the sink is reachable');
  });
});

