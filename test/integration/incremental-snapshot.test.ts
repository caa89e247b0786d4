/**
 * Incremental snapshots against a real PostgreSQL: signals as logical decoding
 * messages, chunks merged into a live stream between watermarks, progress kept
 * across a restart, and `pgcdc snapshot` driving `pgcdc run`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import type { IncrementalProgress } from '../../src/snapshot/incremental-snapshot.ts';
import { configWriter, runCli, startCli, stopGracefully } from '../support/cli.ts';
import { eventually } from '../support/collect.ts';
import { jsonLines } from '../support/json-lines.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { freePort } from '../../src/demo/embedded-postgres.ts';

let server: TestPostgres;
let dir: string;

before(async () => {
  server = await startPostgres(latestMajor());
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-incremental-'));
});
after(async () => {
  await server?.stop();
});

const signal = (content: object) => server.query(`SELECT pg_logical_emit_message(false, 'pgcdc.signal', $1)`, [JSON.stringify(content)]);

/** A copy of the table built only from delivered events: reads and creates/updates upsert, deletes remove. */
class Replica {
  readonly rows = new Map<string, Record<string, unknown>>();
  reads = 0;
  apply(event: ChangeEvent): void {
    if (event.op === 'd') this.rows.delete(String(event.before!.id));
    else if (event.op === 'c' || event.op === 'u' || event.op === 'r') {
      if (event.op === 'u' && event.before && event.before.id !== event.after!.id) this.rows.delete(String(event.before.id));
      this.rows.set(String(event.after!.id), event.after!);
      if (event.op === 'r') this.reads++;
    }
  }
}

/** Reads the stream in the background, applying events and confirming each batch, until stopped. */
function consume(stream: ChangeStream, onEvent: (event: ChangeEvent) => void): Promise<void> {
  return (async () => {
    for await (const batch of stream) {
      for (const event of batch.events) onEvent(event);
      batch.confirm();
    }
  })();
}

async function tableRows(table: string): Promise<Map<string, Record<string, unknown>>> {
  const rows = await server.query<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY id`);
  return new Map(rows.map((r) => [String(r.id), r]));
}

describe('incremental snapshot', () => {
  test('random concurrent inserts, updates and deletes during the snapshot: replaying every delivered event into an empty copy reproduces the table', async () => {
    await server.query(`CREATE TABLE inc (id int PRIMARY KEY, v int NOT NULL, note text);
      CREATE PUBLICATION inc_pub FOR TABLE inc;
      INSERT INTO inc SELECT g, 0, 'seed ' || g FROM generate_series(1, 4000) g`);
    const progress: IncrementalProgress[] = [];
    // The slot is created after the rows exist: they reach the copy only through the snapshot.
    const stream = await ChangeStream.open({
      connection: server.url(), slot: 'inc', publication: 'inc_pub', heartbeat: false, statusIntervalMs: 200,
      snapshot: { mode: 'never', incrementalChunkSize: 100, onIncrementalProgress: (p) => progress.push(p) },
    });
    const replica = new Replica();
    const events: ChangeEvent[] = [];
    const consuming = consume(stream, (e) => { events.push(e); replica.apply(e); });

    // Four writers hammer the whole key range (and beyond it) while the table is read.
    let writing = true;
    let writes = 0;
    const clients = await Promise.all([1, 2, 3, 4].map(async () => {
      const c = new pg.Client({ connectionString: server.url() });
      await c.connect();
      return c;
    }));
    const writers = clients.map((c, index) => {
      const w = index + 1;
      return (async () => {
        let seed = w * 7919;
        const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
        while (writing) {
          const id = 1 + random(4400);
          const action = random(10);
          if (action < 5) await c.query('UPDATE inc SET v = v + 1, note = $2 WHERE id = $1', [id, `w${w}`]);
          else if (action < 7) await c.query('DELETE FROM inc WHERE id = $1', [id]);
          else if (action < 9) await c.query('INSERT INTO inc VALUES ($1, 1, $2) ON CONFLICT (id) DO UPDATE SET v = inc.v + 10', [id, `ins${w}`]);
          else {
            // Several rows in one transaction, across chunks.
            // Several rows in one transaction, across chunks (a deadlock between writers just rolls back).
            await c.query('BEGIN');
            try {
              await c.query('UPDATE inc SET v = v + 100 WHERE id = $1 OR id = $2', [id, 4401 - id]);
              await c.query('DELETE FROM inc WHERE id = $1', [1 + random(4400)]);
              await c.query('COMMIT');
            } catch {
              await c.query('ROLLBACK');
            }
          }
          writes++;
        }
        await c.end();
      })();
    });
    await new Promise((r) => setTimeout(r, 300));
    await signal({ type: 'execute-snapshot', tables: ['public.inc'] });
    await eventually('the incremental snapshot to finish', async () => progress.at(-1)?.tableDone, (done) => done === true, 60_000);
    writing = false;
    await Promise.all(writers);
    // Everything committed so far reaches the stream before this marker.
    await server.query(`SELECT pg_logical_emit_message(false, 'test.end', 'x')`);
    await eventually('the stream to catch up', async () => events.some((e) => e.op === 'm' && e.message?.prefix === 'test.end'), (seen) => seen, 30_000);
    stream.requestStop();
    await consuming;
    await stream.stop();

    const expected = await tableRows('inc');
    assert.ok(writes > 200, `writers made ${writes} changes during the snapshot`);
    assert.ok(replica.reads > 1000, `${replica.reads} rows came from the snapshot`);
    assert.equal(replica.rows.size, expected.size);
    for (const [id, row] of expected) assert.deepEqual(replica.rows.get(id), row, `row ${id}`);
    const reads = events.filter((e) => e.op === 'r');
    assert.ok(reads.every((e) => e.source.snapshot === 'incremental' && e.before === null && e.source.table === 'inc'));
    // Control messages never reach the consumer.
    assert.ok(!events.some((e) => e.op === 'm' && (e.message?.prefix === 'pgcdc.signal' || e.message?.prefix === 'pgcdc.watermark')));
    assert.deepEqual(progress.at(-1), { table: 'public.inc', rows: replica.reads, estimatedRows: progress.at(-1)!.estimatedRows, tablesQueued: 0, paused: false, tableDone: true });
  });

  test('pause, resume and stop signals; a signal for another slot is ignored; a where condition limits the rows', async () => {
    await server.query(`CREATE TABLE ctl (id int PRIMARY KEY, kind text);
      CREATE PUBLICATION ctl_pub FOR TABLE ctl;
      INSERT INTO ctl SELECT g, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 600) g`);
    const progress: IncrementalProgress[] = [];
    const notices: string[] = [];
    const stream = await ChangeStream.open({
      connection: server.url(), slot: 'ctl', publication: 'ctl_pub', heartbeat: false, statusIntervalMs: 200, onNotice: (m) => notices.push(m),
      snapshot: { mode: 'never', incrementalChunkSize: 50, onIncrementalProgress: (p) => progress.push(p) },
    });
    const reads: ChangeEvent[] = [];
    const consuming = consume(stream, (e) => { if (e.op === 'r') reads.push(e); });
    try {
      await signal({ type: 'execute-snapshot', tables: ['public.ctl'], slot: 'some_other_slot' });
      await signal({ type: 'pause-snapshot' });
      await signal({ type: 'execute-snapshot', tables: ['ctl'], where: "kind = 'even'" });
      await eventually('the paused snapshot to be queued', async () => notices.some((n) => n.includes('incremental snapshot requested: ctl')), (seen) => seen);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(reads.length, 0, 'paused: nothing read');
      await signal({ type: 'resume-snapshot' });
      await eventually('the snapshot to finish', async () => progress.at(-1)?.tableDone, (done) => done === true, 30_000);
      assert.equal(reads.length, 300);
      assert.ok(reads.every((e) => e.after!.kind === 'even'));
      assert.deepEqual(reads.map((e) => e.after!.id), Array.from({ length: 300 }, (_, i) => 2 * (i + 1)), 'in key order, once each');

      // Stop: a table that is being read stops after the chunk in flight.
      await signal({ type: 'pause-snapshot' });
      await signal({ type: 'execute-snapshot', tables: ['public.ctl'] });
      await signal({ type: 'stop-snapshot' });
      await signal({ type: 'resume-snapshot' });
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(reads.length, 300, 'stopped before anything more was read');
      assert.ok(notices.some((n) => n === 'incremental snapshot stopped'));
      // A malformed signal is one readable notice.
      await server.query(`SELECT pg_logical_emit_message(false, 'pgcdc.signal', '{"type":"execute-snapshot"}')`);
      await eventually('the bad signal to be reported', async () => notices.find((n) => n.startsWith('ignoring signal')), (n) => n !== undefined);
      assert.match(notices.find((n) => n.startsWith('ignoring signal'))!, /execute-snapshot needs "tables"/);
    } finally {
      stream.requestStop();
      await consuming;
      await stream.stop();
    }
  });

  test('a table without a primary key is skipped with a clear notice; with snapshot.keys it is read by that key', async () => {
    await server.query(`CREATE TABLE nokey (code text NOT NULL UNIQUE, n int);
      CREATE PUBLICATION nokey_pub FOR TABLE nokey;
      INSERT INTO nokey SELECT 'c' || g, g FROM generate_series(1, 30) g`);
    for (const keys of [undefined, { 'public.nokey': ['code'] }]) {
      const notices: string[] = [];
      const progress: IncrementalProgress[] = [];
      const stream = await ChangeStream.open({
        connection: server.url(), slot: keys ? 'nokey_k' : 'nokey', publication: 'nokey_pub', heartbeat: false, onNotice: (m) => notices.push(m),
        snapshot: { mode: 'never', incrementalChunkSize: 7, ...(keys ? { keys } : {}), onIncrementalProgress: (p) => progress.push(p) },
      });
      const reads: ChangeEvent[] = [];
      const consuming = consume(stream, (e) => { if (e.op === 'r') reads.push(e); });
      try {
        await signal({ type: 'execute-snapshot', tables: ['public.nokey'], slot: keys ? 'nokey_k' : 'nokey' });
        if (keys === undefined) {
          await eventually('the skip notice', async () => notices.find((n) => n.includes('skipped')), (n) => n !== undefined);
          assert.match(notices.find((n) => n.includes('skipped'))!, /incremental snapshot of public\.nokey skipped: table public\.nokey has no primary key.*snapshot\.keys/);
          assert.equal(reads.length, 0);
        } else {
          await eventually('the keyed snapshot', async () => progress.at(-1)?.tableDone, (done) => done === true);
          assert.equal(reads.length, 30);
          assert.deepEqual(new Set(reads.map((e) => e.after!.code)).size, 30);
        }
      } finally {
        stream.requestStop();
        await consuming;
        await stream.stop();
      }
    }
  });

  test('pgcdc snapshot --table drives pgcdc run; killed mid-snapshot, the restarted run resumes from its last confirmed chunk', async () => {
    await server.query(`CREATE TABLE big (id int PRIMARY KEY, pad text);
      CREATE PUBLICATION big_pub FOR TABLE big;
      INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`);
    const out = join(dir, 'big.jsonl');
    const stateFile = join(dir, 'big.snapshot.json');
    const port = await freePort();
    const config = configWriter(dir)('big.yaml', `
source: { url: "\${DATABASE_URL}", slot: big, publication: big_pub, statusInterval: 200ms }
snapshot: { mode: never, incrementalChunkSize: 200, stateFile: "${stateFile}" }
sink: { type: file, path: "${out}" }
heartbeat: false
metrics: { port: ${port} }
`);
    const env = { DATABASE_URL: server.url() };
    const readsIn = () => jsonLines<ChangeEvent>(out).filter((e) => e.op === 'r');
    let running = startCli(['run', '--config', config], env);
    await eventually('the slot', async () => (await server.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'big'`))[0]!.n, (n) => n === 1);
    const sent = await runCli(['snapshot', server.url(), '--table', 'public.big']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^execute-snapshot signal written at [0-9A-F]+\/[0-9A-F]+: \{"type":"execute-snapshot","tables":\["public\.big"\]\}\n$/);
    await eventually('part of the table', async () => readsIn().length, (n) => n >= 3000, 60_000);
    running.child.kill('SIGKILL');
    await new Promise((r) => running.child.once('exit', r));
    const saved = JSON.parse(readFileSync(stateFile.replace(/\.snapshot\.json$/, '.incremental.json'), 'utf8')) as { tables: Array<{ name: string; after: string[]; rows: number }> };
    assert.equal(saved.tables[0]!.name, 'public.big');
    const resumeAfter = Number(saved.tables[0]!.after[0]);
    assert.ok(resumeAfter > 0 && resumeAfter < 20000, `saved at ${resumeAfter}`);

    running = startCli(['run', '--config', config], env);
    await eventually('the whole table', async () => new Set(readsIn().map((e) => e.after!.id)).size, (n) => n === 20000, 120_000);
    const incrementalState = stateFile.replace(/\.snapshot\.json$/, '.incremental.json');
    // The table is done once an empty chunk past its last key is confirmed.
    await eventually('the snapshot to be recorded as done', async () => (JSON.parse(readFileSync(incrementalState, 'utf8')) as { tables: unknown[] }).tables.length, (n) => n === 0);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /pgcdc_incremental_snapshot_rows\{slot="big",table="public.big"\} \d+/);
    assert.match(metrics, /pgcdc_incremental_snapshot_tables_queued\{slot="big"\} 0/);
    await stopGracefully(running);
    assert.match(running.stderr(), /resuming the incremental snapshot of public\.big/);
    const reads = readsIn();
    // Resumed after the last confirmed chunk: only the unconfirmed tail is read twice.
    assert.ok(reads.length - 20000 < 3000, `${reads.length - 20000} rows read twice`);
    assert.match(running.stderr(), /incremental snapshot of public\.big done: \d+ rows/);
    // Usage mistakes are one line.
    const bad = await runCli(['snapshot', server.url()]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /name the tables to snapshot: --table schema\.table/);
  });
});
