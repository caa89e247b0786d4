/** The HTTP webhook sink against a real local HTTP server, through a pipeline on a real PostgreSQL. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { eventually } from '../support/collect.ts';
import { currentWalLsn } from '../support/slots.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { closeReceiver, listenOnLoopback } from '../support/http-receiver.ts';

interface Received { headers: Record<string, string | string[] | undefined>; body: string; status: number }

let server: TestPostgres;
let http: Server;
let port: number;
const received: Received[] = [];
/** Status to answer next; shifted per request (default 200). */
const script: number[] = [];

before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  await server.query('CREATE TABLE poison (id int PRIMARY KEY)');
  await server.query('CREATE PUBLICATION hooks FOR TABLE orders, poison');
  http = createServer((request, response) => {
    let body = '';
    request.on('data', (d: Buffer) => { body += d.toString(); });
    request.on('end', () => {
      // The receiver refuses anything about the poison table for good.
      const status = script.shift() ?? (body.includes('"public.poison"') || body.includes('pgcdc.public.poison') ? 400 : 200);
      received.push({ headers: request.headers, body, status });
      response.writeHead(status, status === 503 ? { 'retry-after': '0' } : {});
      response.end(status === 400 ? 'unknown table' : 'ok');
    });
  });
  port = await listenOnLoopback(http);
});
after(async () => {
  closeReceiver(http);
  await server?.stop();
});

test('HTTP webhook: signed batches with an Idempotency-Key, retried on 503, 4xx to dead letters, acknowledged after 2xx', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-http-'));
  const dead = join(dir, 'dead.jsonl');
  const config = parseConfig({
    source: { url: server.url(), slot: 'hooks', publication: 'hooks', statusInterval: '100ms' },
    sink: { type: 'http', url: `http://127.0.0.1:${port}/hooks`, secret: 'webhook-secret', headers: { authorization: 'Bearer t0ken' } },
    deadLetter: { type: 'file', path: dead },
    heartbeat: false,
    retry: { initialDelay: '50ms', maxDelay: '200ms' },
  });
  const pipeline = createPipeline(config.pipelines[0]!);
  const retries: string[] = [];
  pipeline.on('retry', ({ error }) => retries.push(error.message));
  await pipeline.start();
  try {
    script.push(503); // the first POST fails and must be retried with the same key and body
    await server.query(`INSERT INTO orders VALUES (1, 'PLACED'), (2, 'PLACED')`);
    await eventually('two POSTs (503, then 200)', async () => received.length, (n) => n >= 2);
    const [failed, accepted] = received;
    assert.deepEqual([failed!.status, accepted!.status], [503, 200]);
    assert.equal(accepted!.headers['idempotency-key'], failed!.headers['idempotency-key'], 'a retry carries the same Idempotency-Key');
    assert.equal(accepted!.body, failed!.body);
    assert.equal(accepted!.headers.authorization, 'Bearer t0ken');
    const expected = `sha256=${createHmac('sha256', 'webhook-secret').update(accepted!.body).digest('hex')}`;
    assert.equal(accepted!.headers['x-pgcdc-signature'], expected, 'the signature verifies with the shared secret');
    const records = JSON.parse(accepted!.body) as Array<{ id: string; topic: string; key: string; value: { op: string; after: { id: number } } }>;
    assert.deepEqual(records.map((r) => [r.topic, r.key, r.value.op, r.value.after.id]), [['pgcdc.public.orders', '{"id":1}', 'c', 1], ['pgcdc.public.orders', '{"id":2}', 'c', 2]]);
    assert.match(retries[0]!, /answered 503/);

    await server.query(`INSERT INTO poison VALUES (7)`);
    await server.query(`UPDATE orders SET status = 'PAID' WHERE id = 1`);
    await eventually('the 400 and the next batch', async () => received.length, (n) => n >= 4);
    assert.deepEqual(received.slice(2).map((r) => r.status), [400, 200], 'the refused batch is not retried; the pipeline goes on');
    await eventually('the dead letter on disk', async () => (existsSync(dead) ? readFileSync(dead, 'utf8') : ''), (t) => t.includes('poison'));
    const letter = JSON.parse(readFileSync(dead, 'utf8').trim().split('\n')[0]!) as { reason: string; stage: string; event: { after: { id: number } } };
    assert.match(letter.reason, /^HTTP 400 from http http:\/\/127\.0\.0\.1:\d+: unknown table$/);
    assert.equal(letter.event.after.id, 7);
    const lsn = await currentWalLsn(server);
    await eventually('the slot to pass everything handled', async () => (await server.query<{ ok: boolean }>(`SELECT confirmed_flush_lsn >= $1::pg_lsn - 200 AS ok FROM pg_replication_slots WHERE slot_name = 'hooks'`, [lsn]))[0]!.ok, (ok) => ok);
  } finally {
    await pipeline.stop();
  }
});
