/**
 * The HTTP sink's failure semantics against a real local receiver: one refused
 * event among many goes to dead letters alone, a refused credential stops the
 * pipeline without dead-lettering anything, and chunks the receiver already
 * answered are not sent again when a later chunk fails.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { eventually } from '../support/collect.ts';
import { confirmedLsn } from '../support/slots.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { closeReceiver, listenOnLoopback } from '../support/http-receiver.ts';

interface Post { status: number; ids: number[] }

let server: TestPostgres;
let http: Server;
let port: number;
/** Decides each POST's status from the request and the event ids in its body. */
let answer: (request: IncomingMessage, ids: number[]) => number = () => 200;
const posts: Post[] = [];

before(async () => {
  server = await startPostgres(latestMajor());
  await server.query('CREATE TABLE items (id int PRIMARY KEY, v text); CREATE PUBLICATION items FOR TABLE items');
  http = createServer((request, response) => {
    let body = '';
    request.on('data', (d: Buffer) => { body += d.toString(); });
    request.on('end', () => {
      const ids = (JSON.parse(body) as Array<{ value: { after: { id: number } | null; before: { id: number } | null } }>).map((r) => (r.value.after ?? r.value.before)!.id);
      const status = answer(request, ids);
      posts.push({ status, ids });
      response.writeHead(status, status === 503 ? { 'retry-after': '0' } : {});
      response.end(status === 422 ? 'item 13 is not accepted' : status === 401 ? 'bad token' : 'ok');
    });
  });
  port = await listenOnLoopback(http);
});
after(async () => {
  closeReceiver(http);
  await server?.stop();
});

function pipelineFor(slot: string, dir: string, sink: Record<string, unknown> = {}) {
  return createPipeline(parseConfig({
    source: { url: server.url(), slot, publication: 'items', statusInterval: '100ms' },
    sink: { type: 'http', url: `http://127.0.0.1:${port}/hook`, ...sink },
    deadLetter: { type: 'file', path: join(dir, 'dead.jsonl') },
    heartbeat: false,
    snapshot: { mode: 'never' },
    retry: { initialDelay: '20ms', maxDelay: '50ms' },
  }).pipelines[0]!);
}

const accepted = () => posts.filter((p) => p.status === 200).flatMap((p) => p.ids);
const deadLetters = (dir: string) => (existsSync(join(dir, 'dead.jsonl')) ? readFileSync(join(dir, 'dead.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string; event: { after: { id: number } } }) : []);

test('one poison event among 40 in one POST: the batch is split until it is alone; only it is dead-lettered, every other event arrives once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-http-split-'));
  posts.length = 0;
  answer = (_request, ids) => (ids.includes(13) ? 422 : 200);
  const pipeline = pipelineFor('split', dir);
  await pipeline.start();
  try {
    await server.query(`INSERT INTO items SELECT g, 'x' FROM generate_series(1, 40) g`);
    await eventually('39 events accepted', async () => accepted().length, (n) => n >= 39);
    await eventually('the dead letter', async () => deadLetters(dir).length, (n) => n >= 1);
    assert.deepEqual(accepted().sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1).filter((id) => id !== 13));
    const letters = deadLetters(dir);
    assert.deepEqual(letters.map((l) => l.event.after.id), [13], 'only the refused event is a dead letter');
    assert.match(letters[0]!.reason, /^HTTP 422 from http http:\/\/127\.0\.0\.1:\d+: item 13 is not accepted$/);
    assert.ok(posts.some((p) => p.status === 422 && p.ids.length === 1), 'the refusal was isolated to a POST of one event');
  } finally {
    await pipeline.stop();
    await server.query('DELETE FROM items');
  }
});

test('a later chunk answered 503: the chunks already answered 2xx are not sent again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-http-chunks-'));
  posts.length = 0;
  let failures = 1;
  answer = (_request, ids) => (ids.includes(25) && failures-- > 0 ? 503 : 200);
  const pipeline = pipelineFor('chunks', dir, { batchSize: 10 });
  await pipeline.start();
  try {
    await server.query(`INSERT INTO items SELECT g, 'y' FROM generate_series(1, 40) g`);
    await eventually('all 40 accepted', async () => new Set(accepted()).size, (n) => n >= 40);
    assert.equal(accepted().length, 40, `every event accepted exactly once (${accepted().length} accepted)`);
    assert.equal(posts.filter((p) => p.status === 503).length, 1);
  } finally {
    await pipeline.stop();
    await server.query('DELETE FROM items');
  }
});

test('401 from a rotated secret stops the pipeline with one clear line: no dead letters, nothing acknowledged past it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-http-auth-'));
  posts.length = 0;
  answer = (request) => (request.headers.authorization === 'Bearer new-token' ? 200 : 401);
  const pipeline = pipelineFor('auth', dir, { headers: { authorization: 'Bearer old-token' } });
  const errors: Error[] = [];
  pipeline.on('error', (error) => errors.push(error));
  await pipeline.start();
  const before = parseLsn((await confirmedLsn(server, 'auth'))!);
  // The refused changes' own position (pgcdc's delivered-position record may write WAL before them).
  const [{ at }] = await server.query<{ at: string }>(`INSERT INTO items VALUES (1, 'z'), (2, 'z') RETURNING pg_current_wal_insert_lsn()::text AS at`) as [{ at: string }];
  const afterStart = at;
  await pipeline.done.catch(() => undefined);
  assert.equal(pipeline.health, 'failed');
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /^POST http http:\/\/127\.0\.0\.1:\d+ answered 401: bad token; the receiver refuses pgcdc's credentials: check sink\.headers and sink\.secret \(nothing was dead-lettered\)$/);
  assert.equal(deadLetters(dir).length, 0, 'a configuration error is not a dead letter');
  assert.ok(parseLsn((await confirmedLsn(server, 'auth'))!) <= parseLsn(afterStart), `the slot did not move past the refused changes (was ${before})`);
  await server.query('DELETE FROM items');
});
