/**
 * `pgcdc run` to RabbitMQ: real PostgreSQL, a real rabbitmq-server (started once
 * for this file, 6-11 s), amqplib reading back from a bound queue.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { ConsumeMessage } from 'amqplib';
import { configWriter, errorLines, startCli, stopGracefully, waitForStreaming } from '../support/cli.ts';
import { eventually } from '../support/collect.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { startRabbitMq, type TestRabbitMq } from '../support/rabbitmq.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { startTogether } from '../support/servers.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { RabbitMqSink } from '../../src/sink/rabbitmq-sink.ts';
import type { SinkError } from '../../src/sink/sink.ts';
import type { OutboundRecord } from '../../src/sink/outbound-record.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { assertEveryVersionOnceInOrder, fastRetryPipeline, writeHotRows } from '../support/versions.ts';

let server: TestPostgres;
let rabbit: TestRabbitMq;
let dir: string;
const writeConfig = (name: string, text: string) => configWriter(dir)(name, text);

before(async () => {
  [server, rabbit] = await startTogether<[TestPostgres, TestRabbitMq]>([() => startPostgres(latestMajor()), startRabbitMq], (s) => ('dispose' in s ? s.dispose() : s.stop()));
  await server.query(`CREATE TABLE orders (id int PRIMARY KEY, status text); CREATE PUBLICATION app FOR TABLE orders`);
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-rabbitmq-'));
});
after(async () => {
  await rabbit?.dispose();
  await server?.stop();
});


const confirmed = (slot: string) => confirmedLsn(server, slot);


/** Declares a durable queue bound to `exchange` with `pattern`; returns a reader of what arrived. */
async function bindQueue(exchange: string, queue: string, pattern: string) {
  const connection = await amqp.connect(rabbit.url);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(queue, exchange, pattern);
  const received: ConsumeMessage[] = [];
  await channel.consume(queue, (m) => { if (m) received.push(m); }, { noAck: true });
  return { received, close: () => connection.close() };
}

describe('pgcdc run → RabbitMQ', () => {
  test('table events and the outbox message arrive through a confirm channel: persistent, message_id = event id, routing key from the template, key and outbox headers', async () => {
    const queue = await bindQueue('cdc', 'all', '#');
    const config = writeConfig('rabbit.yaml', `
source: { url: "\${DATABASE_URL}", slot: to_rabbit, publication: app, statusInterval: 200ms }
sink: { type: rabbitmq, url: "${rabbit.url}", exchange: cdc }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('to_rabbit'), (lsn) => lsn !== undefined);
      await server.query(`BEGIN;
        INSERT INTO orders VALUES (42, 'SHIPPED');
        SELECT pg_logical_emit_message(true, 'outbox', '{"id":"298c2cc3-71bb-4d2b-b5b4-1b14006d56e6","aggregate_type":"shipment","aggregate_id":42,"payload":{"status":"SHIPPED"}}');
        COMMIT`);
      await server.query(`UPDATE orders SET status = 'DELIVERED' WHERE id = 42`);
      const end = await currentWalLsn(server);
      await eventually('three messages in the queue', async () => queue.received.length, (n) => n >= 3);
      const [insert, outbox, update] = queue.received as [ConsumeMessage, ConsumeMessage, ConsumeMessage];
      assert.equal(insert.fields.routingKey, 'pgcdc.public.orders');
      assert.equal(insert.properties.deliveryMode, 2, 'persistent');
      assert.equal(insert.properties.contentType, 'application/json');
      assert.match(insert.properties.messageId, /^[0-9A-F]+\/[0-9A-F]+:1$/);
      assert.equal(insert.properties.headers!['pgcdc-key'], '{"id":42}');
      assert.deepEqual(JSON.parse(insert.content.toString()).after, { id: 42, status: 'SHIPPED' });
      assert.equal(outbox.fields.routingKey, 'shipment');
      assert.equal(outbox.properties.messageId, insert.properties.messageId.replace(/:1$/, ':2'), 'the event id: same commit, second event');
      assert.equal(outbox.properties.headers!.message_id, '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6');
      assert.equal(outbox.properties.headers!['pgcdc-key'], '42');
      assert.equal(outbox.content.toString(), '{"status":"SHIPPED"}');
      assert.equal(JSON.parse(update.content.toString()).op, 'u');
      await eventually('the slot acknowledged past the update', async () => parseLsn((await confirmed('to_rabbit'))!), (lsn) => lsn >= parseLsn(end));
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
    }
  });

  test('mandatory: a message no queue is bound for comes back and goes to the dead-letter file; routed ones are delivered, and only they are counted as confirmed', async () => {
    const queue = await bindQueue('strict', 'orders-only', 'pgcdc.public.orders');
    const dead = join(dir, 'rabbit-dead.jsonl');
    const port = await freePort();
    const config = writeConfig('mandatory.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_mandatory, publication: app, statusInterval: 200ms }
sink: { type: rabbitmq, url: "${rabbit.url}", exchange: strict, mandatory: true }
deadLetter: { type: file, path: "${dead}" }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
metrics: { port: ${port} }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('rabbit_mandatory'), (lsn) => lsn !== undefined);
      await server.query(`BEGIN; INSERT INTO orders VALUES (7, 'A'); SELECT pg_logical_emit_message(true, 'nobody-listens', 'hello'); INSERT INTO orders VALUES (8, 'B'); COMMIT`);
      await eventually('two routed messages', async () => queue.received.length, (n) => n >= 2);
      assert.deepEqual(queue.received.map((m) => JSON.parse(m.content.toString()).after.id), [7, 8]);
      const letter = await eventually('the dead letter', async () => (existsSync(dead) ? readFileSync(dead, 'utf8').trim() : ''), (t) => t !== '');
      const parsed = JSON.parse(letter);
      assert.match(parsed.reason, /unroutable: no queue is bound to exchange 'strict' for routing key 'pgcdc\.message\.nobody-listens'/);
      assert.equal(parsed.event.message.prefix, 'nobody-listens');
      // An outbox aggregate type longer than an AMQP routing key may be (255 bytes): dead-lettered, not retried for ever.
      await server.query(`BEGIN; SELECT pg_logical_emit_message(true, 'outbox', '{"id":"7c1e","aggregate_type":"${'long'.repeat(70)}","aggregate_id":1,"payload":{}}'); INSERT INTO orders VALUES (9, 'C'); COMMIT`);
      const letters = await eventually('the second dead letter', async () => readFileSync(dead, 'utf8').trim().split('\n'), (l) => l.length >= 2);
      assert.match(JSON.parse(letters[1]!).reason, /the routing key 'longlong.*' is longer than AMQP's 255 bytes/);
      await eventually('the row after it', async () => queue.received.length, (n) => n >= 3);
      assert.equal(JSON.parse(queue.received[2]!.content.toString()).after.id, 9);
      // The returned message was counted when its batch was encoded; it is a dead letter, not a confirmed record.
      const metrics = await eventually('the metrics of the confirmed rows', async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), (t) => /table="public\.orders"\} 3\b/.test(t));
      assert.match(metrics, /pgcdc_sink_records_total\{slot="rabbit_mandatory",sink="rabbitmq",table="public\.orders"\} 3\b/);
      assert.doesNotMatch(metrics, /pgcdc_sink_records_total\{[^}]*table="message:(nobody-listens|outbox)"\} [1-9]/);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
    }
  });

  test('connection to RabbitMQ cut: nothing acknowledged past what was confirmed, a new connection after it heals, every change arrives once in order', async () => {
    const queue = await bindQueue('partition', 'p', '#');
    const proxy = await startTcpProxy(Number(new URL(rabbit.url).port));
    const config = writeConfig('partition.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_partition, publication: app, statusInterval: 200ms }
sink: { type: rabbitmq, url: "amqp://guest:guest@127.0.0.1:${proxy.port}", exchange: partition, timeout: 2s }
retry: { initialDelay: 100ms, maxDelay: 500ms }
heartbeat: false
snapshot: { mode: never }   # the shared table has earlier tests' rows
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('rabbit_partition'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (300, 'before')`);
      await eventually('the first message', async () => queue.received.length, (n) => n === 1);
      proxy.partition();
      for (let id = 301; id <= 305; id++) await server.query(`INSERT INTO orders VALUES (${id}, 'during')`);
      await eventually('a failed attempt', async () => running.stderr(), (t) => /RabbitMQ publish failed|cannot reach RabbitMQ/.test(t));
      await new Promise((r) => setTimeout(r, 600));
      const whileCut = await confirmed('rabbit_partition');
      proxy.heal();
      await eventually('all six messages', async () => queue.received.length, (n) => n >= 6, 20_000);
      const events = queue.received.map((m) => JSON.parse(m.content.toString()) as { after: { id: number }; source: { lsn: number } });
      assert.deepEqual(events.map((e) => e.after.id), [300, 301, 302, 303, 304, 305]);
      // Not past the first change RabbitMQ did not have (pgcdc's delivered-position record may be written before it).
      assert.ok(parseLsn(whileCut!) <= BigInt(events[1]!.source.lsn), `acknowledged ${whileCut} must not pass the first undelivered change at ${events[1]!.source.lsn}`);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
      await proxy.close();
    }
  });

  test('a full queue (x-overflow: reject-publish) drained while pgcdc writes: nacks and confirms mix inside a write, and every row\'s versions still arrive in order', async () => {
    await server.query('CREATE TABLE hot (id int PRIMARY KEY, n int); CREATE PUBLICATION hot FOR TABLE hot');
    const connection = await amqp.connect(rabbit.url);
    const channel = await connection.createChannel();
    await channel.assertExchange('hot', 'topic', { durable: true });
    // Room for 25 messages; each ack below frees one, so the broker nacks some
    // publishes of a write and confirms later ones.
    await channel.assertQueue('hot', { durable: true, arguments: { 'x-max-length': 25, 'x-overflow': 'reject-publish' } });
    await channel.bindQueue('hot', 'hot', '#');
    await channel.prefetch(5);
    const firstSeen = new Map<string, { id: number; n: number }>();
    await channel.consume('hot', (m) => {
      if (m === null) return;
      const id = m.properties.messageId as string;
      // RabbitMQ has no deduplication: a write that failed after some confirms repeats them (same message_id).
      if (!firstSeen.has(id)) firstSeen.set(id, (JSON.parse(m.content.toString()) as { after: { id: number; n: number } }).after);
      setTimeout(() => channel.ack(m), 2);
    }, { noAck: false });
    const pipeline = fastRetryPipeline(server.url(), 'rabbit_hot', 'hot', { type: 'rabbitmq', url: rabbit.url, exchange: 'hot', timeout: '5s' });
    await pipeline.start();
    try {
      const rounds = 60;
      const total = await writeHotRows((sql) => server.query(sql), 'hot', 10, rounds);
      await eventually('every version delivered', async () => firstSeen.size, (n) => n >= total, 30_000);
      assertEveryVersionOnceInOrder([...firstSeen.values()], rounds);
    } finally {
      await pipeline.stop();
      await connection.close();
    }
  });

  test('an exchange that does not exist (not declared by pgcdc): the broker closes the channel with 404; one line, exit 8, nothing acknowledged past it, no dead letters', async () => {
    const config = writeConfig('noexchange.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_noexchange, publication: app, statusInterval: 100ms }
sink: { type: rabbitmq, url: "${rabbit.url}", exchange: not_there, declareExchange: false }
deadLetter: { type: file, path: "${join(dir, 'noexchange.dead.jsonl')}" }
snapshot: { mode: never }
retry: { initialDelay: 20ms, maxDelay: 50ms }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    await waitForStreaming(running);
    const beforeRows = await currentWalLsn(server);
    await server.query(`INSERT INTO orders VALUES (900, 'new')`);
    const result = await running.done;
    assert.equal(result.code, 8, result.stderr);
    const lines = errorLines(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /RabbitMQ publish failed: .*404.*NOT_FOUND - no exchange 'not_there'.*; check the exchange \(sink\.exchange, sink\.declareExchange\) and the user's write permission on it; nothing was dead-lettered/);
    const deadLetters = join(dir, 'noexchange.dead.jsonl');
    assert.equal(existsSync(deadLetters) ? readFileSync(deadLetters, 'utf8') : '', '', 'nothing was dead-lettered');
    assert.ok(parseLsn((await confirmed('rabbit_noexchange'))!) <= parseLsn(beforeRows), 'the slot did not move past the refused change');
    await server.query('DELETE FROM orders WHERE id = 900');
  });

  test('a user without write permission on the exchange (access refused, 403): one line saying what to grant, exit 8, nothing acknowledged past it, no dead letters', async () => {
    await rabbit.ctl('add_user', 'reader', 'r3ader');
    // configure and read everything, write nothing: the publish is refused.
    await rabbit.ctl('set_permissions', '-p', '/', 'reader', '.*', '^$', '.*');
    const queue = await bindQueue('guarded', 'guarded_q', '#');
    const config = writeConfig('noaccess.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_noaccess, publication: app, statusInterval: 100ms }
sink: { type: rabbitmq, url: "${rabbit.url.replace('guest:guest', 'reader:r3ader')}", exchange: guarded, declareExchange: false }
deadLetter: { type: file, path: "${join(dir, 'noaccess.dead.jsonl')}" }
snapshot: { mode: never }
retry: { initialDelay: 20ms, maxDelay: 50ms }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await waitForStreaming(running);
      const beforeRows = await currentWalLsn(server);
      await server.query(`INSERT INTO orders VALUES (910, 'new')`);
      const result = await running.done;
      assert.equal(result.code, 8, result.stderr);
      const lines = errorLines(result.stderr);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /RabbitMQ publish failed: .*403.*ACCESS_REFUSED - access to exchange 'guarded' in vhost '\/' refused for user 'reader'.*; check the exchange \(sink\.exchange, sink\.declareExchange\) and the user's write permission on it; nothing was dead-lettered/);
      assert.doesNotMatch(result.stderr, /r3ader/, 'the password is never printed');
      const deadLetters = join(dir, 'noaccess.dead.jsonl');
      assert.equal(existsSync(deadLetters) ? readFileSync(deadLetters, 'utf8') : '', '', 'nothing was dead-lettered');
      assert.equal(queue.received.length, 0);
      assert.ok(parseLsn((await confirmed('rabbit_noaccess'))!) <= parseLsn(beforeRows), 'the slot did not move past the refused change');
      // Given the permission, a new run delivers the change that was refused.
      await rabbit.ctl('set_permissions', '-p', '/', 'reader', '.*', '.*', '.*');
      const again = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
      try {
        await eventually('the refused change delivered', async () => queue.received.length, (n) => n >= 1, 20_000);
        assert.equal((JSON.parse(queue.received[0]!.content.toString()) as { after: { id: number } }).after.id, 910);
      } finally {
        assert.equal(await stopGracefully(again), 0, again.stderr());
      }
    } finally {
      await queue.close();
      await server.query('DELETE FROM orders WHERE id = 910');
    }
  });

  test('a change larger than the frame size (300 KB of multi-byte text) arrives whole, its body split across frames', async () => {
    const queue = await bindQueue('large', 'large_q', '#');
    const config = writeConfig('large.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_large, publication: app, statusInterval: 200ms }
sink: { type: rabbitmq, url: "${rabbit.url}", exchange: large }
heartbeat: false
snapshot: { mode: never }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('rabbit_large'), (lsn) => lsn !== undefined);
      const status = 'é€🙂'.repeat(30_000) + 'end';
      await server.query(`INSERT INTO orders VALUES (500, $1)`, [status]);
      await server.query(`INSERT INTO orders VALUES (501, 'small after it')`);
      await eventually('both messages', async () => queue.received.length, (n) => n >= 2);
      const [large, small] = queue.received.map((m) => JSON.parse(m.content.toString()) as { after: { id: number; status: string } });
      assert.ok(queue.received[0]!.content.length > 131_072, `${queue.received[0]!.content.length} bytes`);
      assert.equal(large!.after.status, status);
      assert.deepEqual(small!.after, { id: 501, status: 'small after it' });
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
      await server.query('DELETE FROM orders WHERE id IN (500, 501)');
    }
  });

  test('a batch encoded for larger frames than the connection now takes (frame_max lowered meanwhile) is refused whole, one line, nothing sent; batches that fit are written', async () => {
    const queue = await bindQueue('frames', 'frames_q', '#');
    // The sink reads a record's id, topic, key, headers, value and its event's commit time: nothing else of the event.
    const record = (id: number, status: string): OutboundRecord => ({
      id: `0/16B3C8:${id}`, topic: 'pgcdc.public.orders', key: `{"id":${id}}`, headers: {},
      value: JSON.stringify({ after: { id, status } }), event: { source: { ts_ms: null } } as unknown as ChangeEvent,
    });
    const options = { exchange: 'frames', exchangeType: 'topic' as const, declareExchange: true, mandatory: false, timeoutMs: 5000 };
    const narrowUrl = new URL(rabbit.url);
    narrowUrl.searchParams.set('frame_max', '8192');
    const wide = new RabbitMqSink({ ...options, url: rabbit.url });
    const narrow = new RabbitMqSink({ ...options, url: narrowUrl.href });
    await wide.open();
    await narrow.open();
    try {
      const status = 'x'.repeat(20_000);
      const big = wide.encode([record(1, status)]); // one body frame of 20 KB
      await assert.rejects(narrow.writeEncoded([big]), (error: SinkError) => {
        assert.equal(error.retriable, false);
        assert.match(error.message, /RabbitMQ now takes frames of at most 8184 bytes, fewer than when these messages were encoded \(\d+\): its frame_max was lowered; restart pgcdc/);
        return true;
      });
      await narrow.writeEncoded([narrow.encode([record(2, status)])]); // bodies split into 8 KB frames
      await wide.writeEncoded([big]);
      await eventually('both messages', async () => queue.received.length, (n) => n >= 2);
      const arrived = queue.received.map((m) => JSON.parse(m.content.toString()) as { after: { id: number; status: string } });
      assert.deepEqual(arrived.map((m) => m.after.id), [2, 1], 'the refused attempt sent nothing');
      for (const m of arrived) assert.equal(m.after.status, status);
    } finally {
      await wide.close();
      await narrow.close();
      await queue.close();
    }
  });

  test('the broker blocks publishers (memory alarm): the write times out naming why, nothing acknowledged past it; once unblocked every change arrives', async () => {
    const queue = await bindQueue('alarm', 'alarm_q', '#');
    const config = writeConfig('alarm.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_alarm, publication: app, statusInterval: 100ms }
sink: { type: rabbitmq, url: "${rabbit.url}", exchange: alarm, timeout: 1500ms }
retry: { initialDelay: 100ms, maxDelay: 300ms }
heartbeat: false
snapshot: { mode: never }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('rabbit_alarm'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (600, 'before')`);
      await eventually('the first message', async () => queue.received.length, (n) => n === 1);
      await rabbit.ctl('set_vm_memory_high_watermark', '0');
      let whileBlocked: string | undefined;
      try {
        for (let id = 601; id <= 603; id++) await server.query(`INSERT INTO orders VALUES (${id}, 'during')`);
        await eventually('a timed-out attempt that names the alarm', async () => running.stderr(), (t) => /RabbitMQ did not confirm within 1500 ms \(the broker blocked publishing: [^)]+\)/.test(t), 20_000);
        assert.equal(queue.received.length, 1, 'nothing was queued while blocked');
        // Compared below with the first blocked change's own position, not with the
        // WAL's end before the inserts: idle keepalives (pgcdc's delivered record
        // writes WAL meanwhile) may move the slot up to the first blocked change.
        whileBlocked = await confirmed('rabbit_alarm');
      } finally {
        await rabbit.ctl('set_vm_memory_high_watermark', '0.4');
      }
      await eventually('all four messages', async () => queue.received.length, (n) => n >= 4, 20_000);
      const ids = queue.received.map((m) => (JSON.parse(m.content.toString()) as { after: { id: number } }).after.id);
      assert.deepEqual([...new Set(ids)], [600, 601, 602, 603]);
      const firstBlocked = queue.received.map((m) => JSON.parse(m.content.toString()) as { after: { id: number }; source: { lsn: number } }).find((e) => e.after.id === 601)!;
      assert.ok(parseLsn(whileBlocked!) <= BigInt(firstBlocked.source.lsn), `acknowledged ${whileBlocked} while blocked must not pass the first blocked change at ${firstBlocked.source.lsn}`);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
      await server.query('DELETE FROM orders WHERE id BETWEEN 600 AND 603');
    }
  });

  test('heartbeats (heartbeat=1 in the URL): an idle connection stays open for the next change, no failed attempt', async () => {
    const queue = await bindQueue('beats', 'beats_q', '#');
    const config = writeConfig('beats.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_beats, publication: app, statusInterval: 200ms }
sink: { type: rabbitmq, url: "${rabbit.url}?heartbeat=1", exchange: beats }
heartbeat: false
snapshot: { mode: never }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('the pipeline to create its slot', () => confirmed('rabbit_beats'), (lsn) => lsn !== undefined);
      await server.query(`INSERT INTO orders VALUES (700, 'first')`);
      await eventually('the first message', async () => queue.received.length, (n) => n === 1);
      // The broker's connections by client port: pgcdc's and this test's reader.
      const connections = async () => (await rabbit.ctl('list_connections', '--no-table-headers', '--quiet', 'peer_port')).trim().split(/\s+/).sort();
      const before = await connections();
      assert.equal(before.length, 2, before.join(' '));
      // RabbitMQ closes a connection that misses two heartbeats (2 s here): pgcdc would then connect again.
      await new Promise((r) => setTimeout(r, 4500));
      await server.query(`INSERT INTO orders VALUES (701, 'after the pause')`);
      await eventually('the second message', async () => queue.received.length, (n) => n === 2);
      assert.deepEqual(await connections(), before, 'the same connection throughout');
      assert.doesNotMatch(running.stderr(), /RabbitMQ publish failed|cannot reach RabbitMQ/);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
      await server.query('DELETE FROM orders WHERE id IN (700, 701)');
    }
  });

  test('amqps:// (TLS checked against the trusted CA): changes arrive; without the CA trusted, attempts fail saying why (and are retried)', async () => {
    const queue = await bindQueue('secure', 'secure_q', '#');
    const config = writeConfig('tls.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_tls, publication: app, statusInterval: 200ms }
sink: { type: rabbitmq, url: "${rabbit.tlsUrl}", exchange: secure, timeout: 2s }
retry: { initialDelay: 100ms, maxDelay: 300ms }
heartbeat: false
snapshot: { mode: never }
`);
    const untrusted = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('a refused attempt', async () => untrusted.stderr(), (t) => /cannot reach RabbitMQ at localhost:\d+: .*(self-signed|unable to verify|certificate)/i.test(t), 20_000);
    } finally {
      await stopGracefully(untrusted);
    }
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url(), NODE_EXTRA_CA_CERTS: rabbit.caFile });
    try {
      await eventually('the pipeline to stream', async () => running.stderr(), (t) => /streaming slot rabbit_tls/.test(t));
      await server.query(`INSERT INTO orders VALUES (800, 'over TLS')`);
      await eventually('the message', async () => queue.received.length, (n) => n >= 1);
      assert.deepEqual(queue.received.map((m) => JSON.parse(m.content.toString()).after), [{ id: 800, status: 'over TLS' }]);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
      await queue.close();
      await server.query('DELETE FROM orders WHERE id = 800');
    }
  });

  test('a vhost that does not exist: one line naming it and what to check, exit 8', async () => {
    const config = writeConfig('novhost.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_novhost, publication: app }
sink: { type: rabbitmq, url: "${rabbit.url}/no%2Fsuch" }
`);
    const result = await startCli(['run', '--config', config], { DATABASE_URL: server.url() }).done;
    assert.equal(result.code, 8, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /cannot reach RabbitMQ at 127\.0\.0\.1:\d+: .*530 NOT_ALLOWED.*vhost no\/such.*; check sink\.url \(its user, password and vhost\)/);
  });

  test('wrong credentials: one line that says what to check, exit 8', async () => {
    const config = writeConfig('badauth.yaml', `
source: { url: "\${DATABASE_URL}", slot: rabbit_badauth, publication: app }
sink: { type: rabbitmq, url: "${rabbit.url.replace('guest:guest', 'guest:wrong')}" }
`);
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    const result = await running.done;
    assert.equal(result.code, 8, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /cannot reach RabbitMQ at 127\.0\.0\.1:\d+: .*ACCESS_REFUSED.*check sink\.url/);
    assert.doesNotMatch(result.stderr, /wrong/, 'the password is never printed');
  });
});
