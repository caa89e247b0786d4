/**
 * Stopping by AbortSignal: ChangeStream.open and Pipeline.start take one, and
 * both are AsyncDisposable (`await using`). Real PostgreSQL, a file sink.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { parseConfig } from '../../src/config/load-config.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import { eventually } from '../support/collect.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`CREATE TABLE items (id int PRIMARY KEY, name text); CREATE PUBLICATION items FOR TABLE items`);
});
after(async () => { await server?.stop(); });

const isAborted = (error: unknown) => error instanceof CdcError && error.code === 'PGCDC_ABORTED';

test('ChangeStream.open with an aborted signal rejects with PGCDC_ABORTED and creates nothing', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(ChangeStream.open({ connection: server.url(), slot: 'never_made', publication: 'items', signal: controller.signal }), isAborted);
  assert.equal(await confirmedLsn(server, 'never_made'), undefined);
});

test('aborting an open stream ends the iteration after the batch in hand and acknowledges what was confirmed', async () => {
  const controller = new AbortController();
  await using stream = await ChangeStream.open({ connection: server.url(), slot: 'aborted_stream', publication: 'items', signal: controller.signal, heartbeat: false, statusIntervalMs: 60_000 });
  await server.query(`INSERT INTO items VALUES (1, 'a')`);
  const done = await currentWalLsn(server);
  await server.query(`INSERT INTO items VALUES (2, 'b')`);
  const seen: number[] = [];
  for await (const batch of stream) {
    seen.push(...batch.events.map((e) => (e.after as { id: number }).id));
    batch.confirm();
    controller.abort(); // after the first batch: nothing more is read
  }
  assert.deepEqual(seen, [1]);
  await eventually('the final position sent on abort', async () => parseLsn((await confirmedLsn(server, 'aborted_stream'))!), (at) => at >= parseLsn(done!) - 200n);
  await server.query(`DELETE FROM items`);
});

test('Pipeline.start takes a signal: aborting it stops the pipeline (drained, acknowledged, sink closed); await using stops it too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-abort-'));
  const config = (slot: string) => parseConfig({
    source: { url: server.url(), slot, publication: 'items', statusInterval: '100ms' },
    sink: { type: 'file', path: join(dir, `${slot}.jsonl`) },
    heartbeat: false,
    snapshot: { mode: 'never' },
  }).pipelines[0]!;
  const controller = new AbortController();
  const pipeline = createPipeline(config('aborted_pipeline'));
  await pipeline.start({ signal: controller.signal });
  await server.query(`INSERT INTO items VALUES (10, 'x')`);
  await eventually('the insert in the file', async () => (existsSync(join(dir, 'aborted_pipeline.jsonl')) ? readFileSync(join(dir, 'aborted_pipeline.jsonl'), 'utf8') : ''), (t) => t.includes('"id":10'));
  controller.abort();
  await pipeline.done;
  assert.equal(pipeline.health, 'stopped');
  const acknowledged = parseLsn((await confirmedLsn(server, 'aborted_pipeline'))!);
  assert.ok(acknowledged >= pipeline.acknowledgedLsn!, 'the last confirmed position was sent');

  const early = new AbortController();
  early.abort();
  await assert.rejects(createPipeline(config('never_started')).start({ signal: early.signal }), isAborted);
  assert.equal(await confirmedLsn(server, 'never_started'), undefined);

  let disposed: ReturnType<typeof createPipeline>;
  {
    await using scoped = createPipeline(config('scoped_pipeline'));
    disposed = scoped;
    await scoped.start();
    assert.equal(scoped.health, 'running');
  }
  assert.equal(disposed.health, 'stopped', 'leaving the scope stopped it');
});

/** A TCP listener that accepts and never answers: a server that hangs mid-handshake. */
async function silentServer(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const listener = createServer((socket) => { sockets.add(socket); socket.on('error', () => undefined); });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as { port: number }).port,
    close: () => { for (const s of sockets) s.destroy(); listener.close(); },
  };
}

test('an abort ends a wait on a server that never answers: ChangeStream.open and a sink that connects (NATS), at once, not at their timeouts', async () => {
  const silent = await silentServer();
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    let started = Date.now();
    await assert.rejects(ChangeStream.open({ connection: `postgresql://u:p@127.0.0.1:${silent.port}/db`, slot: 'hangs', signal: controller.signal }), isAborted);
    assert.ok(Date.now() - started < 5000, `aborted after ${Date.now() - started} ms (the connect timeout is 15 s)`);

    const pipeline = createPipeline(parseConfig({
      source: { url: server.url(), slot: 'sink_hangs', publication: 'items' },
      sink: { type: 'nats', servers: [`127.0.0.1:${silent.port}`], timeout: '30s' },
      heartbeat: false,
    }).pipelines[0]!);
    const sinkAbort = new AbortController();
    setTimeout(() => sinkAbort.abort(), 200);
    started = Date.now();
    await assert.rejects(pipeline.start({ signal: sinkAbort.signal }), isAborted);
    assert.ok(Date.now() - started < 5000, `aborted after ${Date.now() - started} ms (the NATS timeout is 30 s)`);
    assert.equal(await confirmedLsn(server, 'sink_hangs'), undefined, 'no slot was created');
  } finally {
    silent.close();
  }
});

