/** Initial snapshots against a real PostgreSQL: the slot's exported snapshot, chunks, parallel readers, resume, modes. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { eventMeta } from '../../src/events/event-builder.ts';
import { FIRST_CHUNK_ROWS } from '../../src/snapshot/chunk-sizer.ts';
import { SNAPSHOT_SLICE_ROWS } from '../../src/snapshot/initial-snapshot-batches.ts';
import { errorLines, runCli, startCli } from '../support/cli.ts';
import { jsonLines } from '../support/json-lines.ts';
import { collectEvents, eventually } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
let dir: string;

before(async () => {
  server = await startPostgres(latestMajor());
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-snapshot-'));
});
after(async () => {
  await server?.stop();
});

const lines = (file: string): ChangeEvent[] => jsonLines<ChangeEvent>(file);

describe('initial snapshot', () => {
  test("snapshot and stream meet exactly: rows inserted by a concurrent writer while the slot is created appear once, as 'r' or as 'c', never both, never neither", async () => {
    await server.query(`CREATE TABLE meet (id int PRIMARY KEY, v text); CREATE PUBLICATION meet_pub FOR TABLE meet;
      INSERT INTO meet SELECT g, 'old' FROM generate_series(1, 3000) g`);
    const writer = new pg.Client({ connectionString: server.url() });
    await writer.connect();
    let next = 3001;
    let writing = true;
    const writes = (async () => {
      while (writing) await writer.query('INSERT INTO meet VALUES ($1, $2)', [next++, 'new']);
    })();
    await new Promise((r) => setTimeout(r, 200));
    const stream = await ChangeStream.open({ connection: server.url(), slot: 'meet', publication: 'meet_pub', heartbeat: false, snapshot: { mode: 'initial', chunkSize: 700 } });
    await new Promise((r) => setTimeout(r, 300));
    writing = false;
    await writes;
    await writer.end();
    const total = next - 1;
    const events = await collectEvents(stream, total, 30_000);
    await stream.stop();
    const seen = new Map<number, string[]>();
    for (const e of events) {
      const id = e.after!.id as number;
      seen.set(id, [...(seen.get(id) ?? []), e.op]);
    }
    assert.equal(seen.size, total, 'every row exactly once');
    for (const [id, ops] of seen) assert.equal(ops.length, 1, `row ${id}: ${ops}`);
    const reads = events.filter((e) => e.op === 'r');
    assert.ok(reads.length >= 3000 && reads.length < total, `${reads.length} read, ${total - reads.length} streamed: the writer ran on both sides of the slot's creation`);
    // All reads come first, then the stream; reads are in key order, chunk after chunk.
    assert.ok(events.slice(0, reads.length).every((e) => e.op === 'r'));
    assert.deepEqual(reads.map((e) => e.after!.id), [...reads.map((e) => e.after!.id as number)].sort((a, b) => a - b));
    assert.ok(reads.slice(0, -1).every((e) => e.source.snapshot === 'true' && e.before === null));
    assert.equal(reads.at(-1)!.source.snapshot, 'last');
    assert.equal(reads[0]!.source.lsn, Number(stream.startLsn));
    assert.match(reads[0]!.id, /^[0-9A-F]+\/[0-9A-F]+:r:public\.meet:\{"id":1\}$/);
    assert.ok(events.slice(reads.length).every((e) => e.op === 'c' && e.source.snapshot === 'false'));
  });

  test('parallel readers (snapshot.parallelism): tables and key ranges of a large table read side by side, all in the slot\'s snapshot: every row once, as it was when the slot was made', async () => {
    await server.query(`CREATE TABLE par_big (id bigint PRIMARY KEY, v text); CREATE TABLE par_small (id int PRIMARY KEY, v text);
      CREATE TABLE par_pair (a int, b text, v text, PRIMARY KEY (a, b)); CREATE TABLE par_nokey (v text);
      CREATE TABLE par_fresh (id int PRIMARY KEY, v text);
      CREATE PUBLICATION par_pub FOR TABLE par_big, par_small, par_pair, par_nokey, par_fresh;
      INSERT INTO par_fresh SELECT g, 'old' FROM generate_series(1, 6000) g;
      INSERT INTO par_big SELECT g * 3, 'old' FROM generate_series(1, 20000) g;
      INSERT INTO par_small SELECT g, 'old' FROM generate_series(1, 700) g;
      INSERT INTO par_pair SELECT g % 50, 'k' || g, 'old' FROM generate_series(1, 1500) g;
      INSERT INTO par_nokey SELECT 'old' FROM generate_series(1, 1200);
      ANALYZE par_big`);
    const stateFile = join(dir, 'par.snapshot.json');
    const notices: string[] = [];
    const stream = await ChangeStream.open({
      connection: server.url(), slot: 'par', publication: 'par_pub', heartbeat: false,
      snapshot: { mode: 'initial', chunkSize: 500, parallelism: 4, stateFile }, onNotice: (m) => notices.push(m),
    });
    // After the slot exists and its readers joined its snapshot: every reader must still see 'old'.
    await server.query(`UPDATE par_big SET v = 'new' WHERE id % 2 = 0; UPDATE par_small SET v = 'new'; UPDATE par_pair SET v = 'new'`);
    const reads = 20000 + 700 + 1500 + 1200 + 6000;
    const updates = 10000 + 700 + 1500; // par_nokey has no replica identity: its rows cannot be updated while published
    const events = await collectEvents(stream, reads + updates, 60_000);
    await stream.stop();
    assert.ok(notices.some((m) => /initial snapshot of 5 table\(s\).*, 4 readers/.test(m)), notices.join('\n'));
    const snapshot = events.slice(0, reads);
    assert.ok(snapshot.every((e) => e.op === 'r' && e.after!.v === 'old'), 'every reader read in the slot\'s snapshot');
    assert.ok(events.slice(reads).every((e) => e.op === 'u' && e.after!.v === 'new'), 'then the stream');
    const ids = (table: string) => snapshot.filter((e) => e.source.table === table).map((e) => table === 'par_pair' ? `${e.after!.a}/${e.after!.b}` : String(e.after!.id));
    assert.deepEqual([...new Set(ids('par_big'))].sort(), Array.from({ length: 20000 }, (_, i) => String((i + 1) * 3)).sort(), 'every row of the split table once');
    assert.equal(ids('par_big').length, 20000);
    assert.equal(new Set(ids('par_small')).size, 700);
    assert.equal(ids('par_pair').length, 1500);
    assert.equal(new Set(ids('par_pair')).size, 1500);
    assert.equal(snapshot.filter((e) => e.source.table === 'par_nokey').length, 1200);
    assert.equal(snapshot.at(-1)!.source.snapshot, 'last');
    assert.equal(snapshot.filter((e) => e.source.snapshot === 'last').length, 1);
    // Within a range, key order: each range's rows arrive ascending (ranges interleave).
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { done: boolean; tables: Record<string, { rows: number; done: boolean; ranges?: Array<{ from?: string[]; to?: string[]; rows: number; done: boolean }> }> };
    assert.equal(state.done, true);
    const ranges = state.tables['public.par_big']!.ranges!;
    assert.ok(ranges.length >= 4, `the large table was split: ${JSON.stringify(ranges)}`);
    assert.equal(ranges[0]!.from, undefined);
    assert.equal(ranges.at(-1)!.to, undefined);
    assert.equal(ranges.reduce((n, r) => n + r.rows, 0), 20000);
    assert.ok(ranges.every((r) => r.done && r.rows > 0));
    for (const range of ranges) {
      const inRange = snapshot.filter((e) => e.source.table === 'par_big' && (range.from === undefined || Number(e.after!.id) > Number(range.from[0])) && (range.to === undefined || Number(e.after!.id) <= Number(range.to[0])));
      assert.equal(inRange.length, range.rows);
      assert.deepEqual(inRange.map((e) => Number(e.after!.id)), inRange.map((e) => Number(e.after!.id)).sort((x, y) => x - y));
    }
    assert.equal(state.tables['public.par_big']!.rows, 20000);
    assert.equal(state.tables['public.par_pair']!.ranges, undefined, 'a composite key is read whole');
    // Never analyzed (no planner estimate): the sample finds it large enough to split.
    assert.ok((state.tables['public.par_fresh']!.ranges ?? []).length >= 2, JSON.stringify(state.tables['public.par_fresh']));
    assert.equal(new Set(ids('par_fresh')).size, 6000);
    assert.equal(ids('par_fresh').length, 6000);
  });

  test('values in snapshot rows equal the same rows streamed; publication column lists and row filters apply', async () => {
    await server.query(`CREATE TABLE typed (id int PRIMARY KEY, amount numeric(12,2), at timestamptz, tags text[], doc jsonb, secret text, total int GENERATED ALWAYS AS (id * 2) STORED);
      CREATE PUBLICATION typed_pub FOR TABLE typed (id, amount, at, tags, doc) WHERE (id < 100);
      INSERT INTO typed (id, amount, at, tags, doc, secret) VALUES (1, 12.5, '2026-01-02 03:04:05.678+00', '{a,"b c"}', '{"k": [1, 2.50]}', 'x'), (200, 1, now(), '{}', '{}', 'y')`);
    const stream = await ChangeStream.open({ connection: server.url(), slot: 'typed', publication: 'typed_pub', heartbeat: false, snapshot: { mode: 'initial' } });
    await server.query(`INSERT INTO typed (id, amount, at, tags, doc, secret) VALUES (2, 12.5, '2026-01-02 03:04:05.678+00', '{a,"b c"}', '{"k": [1, 2.50]}', 'x')`);
    const [read, streamed] = await collectEvents(stream, 2);
    await stream.stop();
    assert.equal(read!.op, 'r');
    assert.equal(streamed!.op, 'c');
    assert.deepEqual({ ...read!.after, id: 2 }, streamed!.after);
    assert.deepEqual(Object.keys(read!.after!), ['id', 'amount', 'at', 'tags', 'doc']);
  });

  test('a table without a primary key: read by row position in chunks, every row once, events without a key (as its streamed changes); with a key named, by that key', async () => {
    await server.query(`CREATE TABLE nokey (code text NOT NULL UNIQUE, n int); CREATE PUBLICATION nokey_pub FOR TABLE nokey; INSERT INTO nokey VALUES ('a', 1), ('b', 2);
      INSERT INTO nokey SELECT 'g' || g, g FROM generate_series(1, 2500) g; INSERT INTO nokey VALUES ('dup', 7), ('dup2', 7)`);
    const byPosition = await ChangeStream.open({ connection: server.url(), slot: 'nokey1', publication: 'nokey_pub', heartbeat: false, snapshot: { mode: 'initial', chunkSize: 1000 } });
    const read = await collectEvents(byPosition, 2504);
    await byPosition.stop();
    assert.equal(new Set(read.map((e) => e.after!.code)).size, 2504, 'every row once');
    assert.equal(new Set(read.map((e) => e.id)).size, 2504, 'distinct, deterministic ids');
    assert.ok(read.every((e) => e.op === 'r' && eventMeta(e)!.key === null));
    const stream = await ChangeStream.open({ connection: server.url(), slot: 'nokey2', publication: 'nokey_pub', heartbeat: false, snapshot: { mode: 'initial', keys: { 'public.nokey': ['code'] } } });
    const events = await collectEvents(stream, 2);
    await stream.stop();
    assert.deepEqual(events.slice(0, 2).map((e) => e.after!.code), ['a', 'b'], 'in key order');
    assert.deepEqual(eventMeta(events[0]!)!.key, { code: 'a' });
  });

  test('pgcdc run: an interrupted snapshot (SIGKILL) resumes from its last confirmed chunk, not from the start; every row arrives', async () => {
    // Large enough that the snapshot is still running when its progress is first saved (at most once a second).
    const rows = 600_000;
    await server.query(`CREATE TABLE big (id int PRIMARY KEY, payload text); CREATE PUBLICATION big_pub FOR TABLE big;
      INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, ${rows}) g; ANALYZE big`);
    const out = join(dir, 'big.jsonl');
    const config = join(dir, 'big.yaml');
    writeFileSync(config, `
source: { url: "\${DATABASE_URL}", slot: big, publication: big_pub, statusInterval: 200ms }
sink: { type: file, path: "${out}" }
snapshot: { chunkSize: 1000, parallelism: 3 }
heartbeat: false
`);
    const stateFile = join(dir, '.pgcdc', 'big.snapshot.json');
    const state = () => (existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) as { done: boolean; tables: Record<string, { rows: number; done: boolean }> } : undefined);
    const first = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    await eventually('some chunks confirmed', async () => state()?.tables['public.big']?.rows ?? 0, (n) => n >= 3000, 30_000);
    first.child.kill('SIGKILL');
    await first.done;
    const confirmedAtKill = state()!.tables['public.big']!.rows;
    assert.ok(!state()!.done, 'killed before the snapshot finished');
    assert.ok((state()!.tables['public.big'] as { ranges?: unknown[] }).ranges!.length >= 3, 'three readers read ranges of the table');
    // Resumed by one reader: the saved ranges are read one after another.
    writeFileSync(config, readFileSync(config, 'utf8').replace('parallelism: 3', 'parallelism: 1'));
    const linesAtKill = lines(out).length;
    assert.ok(linesAtKill >= confirmedAtKill);
    await server.query(`INSERT INTO big VALUES (${rows + 1}, 'after the kill')`);
    const second = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await eventually('every row in the file', async () => new Set(lines(out).map((e) => e.after?.id)).size, (n) => n >= rows + 1, 60_000);
    } finally {
      second.child.kill('SIGTERM');
      assert.equal((await second.done).code, 0, second.stderr());
    }
    assert.match(second.stderr(), /resuming the initial snapshot/);
    // Not a terminal: progress as log lines (rows, estimate, rate).
    assert.match(second.stderr(), /"msg":"big: snapshot public\.big [\d,]+\/[\d,]+ rows, [\d,]+ rows\/s/);
    const all = lines(out);
    const readBySecond = all.slice(linesAtKill).filter((e) => e.op === 'r').length;
    assert.ok(readBySecond <= rows - confirmedAtKill + 1000, `the second run read ${readBySecond} rows; ${rows - confirmedAtKill} were left`);
    assert.ok(state()!.done);
    const last = all.filter((e) => e.op === 'r').at(-1)!;
    assert.equal(last.source.snapshot, 'last');
    assert.equal(all.at(-1)!.op, 'c', 'the stream continues after the snapshot');
  });

  test('a chunk\'s rows go out in batches of a few hundred; the saved progress never passes a batch still in flight, even when a later batch was emptied by a transform and confirmed at once', async () => {
    await server.query(`CREATE TABLE sliced (id int PRIMARY KEY); CREATE PUBLICATION sliced_pub FOR TABLE sliced; INSERT INTO sliced SELECT generate_series(1, 1200)`);
    const stateFile = join(dir, 'sliced.snapshot.json');
    const saved = () => (existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { done: boolean; tables: Record<string, { rows: number } | undefined> }) : undefined);
    // The first chunk (rows 1-100, before the table's width is known) goes out as
    // rows 1-99; its last row waits and goes out with the next chunk's first rows,
    // and that batch confirms the chunk. Rows 100-350 are dropped: that batch is
    // empty and confirmed at once, while rows 1-99 are still in flight.
    const firstChunk = FIRST_CHUNK_ROWS;
    const dropped = (id: number) => id >= firstChunk && id <= firstChunk + SNAPSHOT_SLICE_ROWS;
    const stream = await ChangeStream.open({
      connection: server.url(), slot: 'sliced', publication: 'sliced_pub', heartbeat: false,
      snapshot: { mode: 'initial', chunkSize: 500, stateFile },
      transforms: [{ name: 'drop-100-350', transform: (event) => (dropped(Number(event.after?.id)) ? null : event) }],
    });
    const batches = stream[Symbol.asyncIterator]();
    try {
      const first = (await batches.next()).value as { events: ChangeEvent[]; confirm: () => void };
      assert.deepEqual([first.events[0]!.after!.id, first.events.at(-1)!.after!.id, first.events.length], [1, firstChunk - 1, firstChunk - 1]);
      const second = (await batches.next()).value as { events: ChangeEvent[]; confirm: () => void };
      assert.deepEqual([second.events[0]!.after!.id, second.events.length], [firstChunk + SNAPSHOT_SLICE_ROWS + 1, SNAPSHOT_SLICE_ROWS - 1], 'the next chunk\'s second batch');
      second.confirm();
      // Progress is saved within a second of a confirm: wait longer, and the first chunk must still not count.
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      assert.equal(saved()?.tables['public.sliced']?.rows ?? 0, 0, 'rows 1-99 are in flight: nothing of their chunk is saved');
      first.confirm();
      await eventually('the first chunk saved', async () => saved()?.tables['public.sliced']?.rows ?? 0, (rows) => rows === firstChunk, 5_000);
      const rest: ChangeEvent[] = [];
      while (rest.at(-1)?.after!.id !== 1200) {
        const batch = (await batches.next()).value as { events: ChangeEvent[]; confirm: () => void };
        rest.push(...batch.events);
        batch.confirm();
      }
      const from = Number(second.events.at(-1)!.after!.id) + 1;
      assert.deepEqual(rest.map((e) => e.after!.id), Array.from({ length: 1201 - from }, (_, i) => from + i));
      assert.equal(rest.at(-1)!.source.snapshot, 'last');
      assert.ok([...first.events, ...second.events, ...rest.slice(0, -1)].every((e) => e.source.snapshot === 'true'));
      await eventually('the snapshot saved as done', async () => saved()?.done, (done) => done === true, 5_000);
      assert.equal(saved()!.tables['public.sliced']!.rows, 1200);
    } finally {
      await stream.stop();
    }
  });

  test('a table that ends exactly on a chunk boundary: every row once, the last marked, the table done (each chunk reads a row ahead)', async () => {
    // Chunks of 100 (before the width is known), then 500: rows 101-600 end the table exactly.
    await server.query(`CREATE TABLE boundary (id int PRIMARY KEY); CREATE PUBLICATION boundary_pub FOR TABLE boundary; INSERT INTO boundary SELECT generate_series(1, ${FIRST_CHUNK_ROWS + 500})`);
    const stateFile = join(dir, 'boundary.snapshot.json');
    const stream = await ChangeStream.open({ connection: server.url(), slot: 'boundary', publication: 'boundary_pub', heartbeat: false, snapshot: { mode: 'initial_only', chunkSize: 500, stateFile } });
    const events: ChangeEvent[] = [];
    for await (const batch of stream) {
      events.push(...batch.events);
      batch.confirm();
    }
    await stream.stop();
    assert.deepEqual(events.map((e) => e.after!.id), Array.from({ length: FIRST_CHUNK_ROWS + 500 }, (_, i) => i + 1));
    assert.deepEqual(events.map((e) => e.source.snapshot).filter((s) => s !== 'true'), ['last']);
    assert.equal(events.at(-1)!.source.snapshot, 'last');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { done: boolean; tables: Record<string, { rows: number; done: boolean }> };
    assert.deepEqual([state.done, state.tables['public.boundary']], [true, { rows: FIRST_CHUNK_ROWS + 500, done: true, after: [String(FIRST_CHUNK_ROWS + 500)] }]);
  });

  test('pgcdc run into the stdout sink: snapshot rows, then streamed ones, as JSON lines (multi-byte text whole); a reader that goes away stops the pipeline with one line', async () => {
    await server.query(`CREATE TABLE out_rows (id int PRIMARY KEY, v text); CREATE PUBLICATION out_pub FOR TABLE out_rows;
      INSERT INTO out_rows SELECT g, repeat('é✓', g % 40) || g FROM generate_series(1, 3000) g`);
    const config = join(dir, 'out.yaml');
    writeFileSync(config, `source: { url: "\${DATABASE_URL}", slot: out_rows, publication: out_pub }\nsink: { type: stdout }\nsnapshot: { mode: initial, chunkSize: 700 }\nheartbeat: false\n`);
    const running = startCli(['run', '--config', config, '--log-format', 'json'], { DATABASE_URL: server.url() });
    try {
      await eventually('the snapshot on stdout', async () => running.stdout().split('\n').filter(Boolean).length, (n) => n >= 3000, 30_000);
      await server.query(`INSERT INTO out_rows VALUES (3001, 'ünïcode ✓')`);
      await eventually('the streamed row on stdout', async () => running.stdout().split('\n').filter(Boolean).length, (n) => n === 3001, 30_000);
      const events = running.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { op: string; after: { id: number; v: string }; source: { snapshot: string } });
      // Two readers (the default) read key ranges side by side: every row once, in any order between ranges.
      assert.deepEqual(events.slice(0, 3000).map((e) => e.after.id).sort((x, y) => x - y), Array.from({ length: 3000 }, (_, i) => i + 1));
      const wrong = events.slice(0, 3000).filter((e) => e.op !== 'r' || e.after.v !== 'é✓'.repeat(e.after.id % 40) + e.after.id);
      assert.deepEqual(wrong.slice(0, 3), []);
      assert.equal(events[2999]!.source.snapshot, 'last');
      assert.deepEqual([events[3000]!.op, events[3000]!.after], ['c', { id: 3001, v: 'ünïcode ✓' }]);
      // The reader goes away: the next write finds the pipe closed.
      running.child.stdout!.destroy();
      await server.query(`INSERT INTO out_rows VALUES (3002, 'x')`);
      const result = await running.done;
      assert.notEqual(result.code, 0);
      assert.ok(errorLines(result.stderr).some((line) => /stdout was closed by its reader/.test(line)), result.stderr);
    } finally {
      running.child.kill('SIGKILL');
    }
  });

  test('killed between creating the slot and reading the first row: the state file written before the slot makes the next start read every row', async () => {
    await server.query(`CREATE TABLE early (id int PRIMARY KEY); CREATE PUBLICATION early_pub FOR TABLE early; INSERT INTO early SELECT generate_series(1, 50)`);
    const stateFile = join(dir, 'early.snapshot.json');
    // What a kill -9 right after CREATE_REPLICATION_SLOT leaves: the slot, and the state written just before it.
    const notices: string[] = [];
    const crashed = await ChangeStream.open({ connection: server.url(), slot: 'early', publication: 'early_pub', heartbeat: false, snapshot: { mode: 'initial', stateFile }, onNotice: (m) => notices.push(m) });
    assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).done, false);
    await crashed.stop(); // nothing read, nothing confirmed
    writeFileSync(stateFile, JSON.stringify({ slot: 'early', lsn: 'before slot creation', startedAt: new Date().toISOString(), tables: {}, done: false }));
    const restarted = await ChangeStream.open({ connection: server.url(), slot: 'early', publication: 'early_pub', heartbeat: false, snapshot: { mode: 'initial', stateFile }, onNotice: (m) => notices.push(m) });
    const events = await collectEvents(restarted, 50);
    await restarted.stop();
    assert.deepEqual(events.map((e) => e.after!.id), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.ok(notices.some((m) => /resuming the initial snapshot/.test(m)), notices.join('\n'));
    assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).done, true);
  });

  test('modes: never reads nothing; initial_only reads and exits 0 without streaming', async () => {
    await server.query(`CREATE TABLE modes (id int PRIMARY KEY); CREATE PUBLICATION modes_pub FOR TABLE modes; INSERT INTO modes VALUES (1), (2)`);
    const never = await ChangeStream.open({ connection: server.url(), slot: 'modes_never', publication: 'modes_pub', heartbeat: false, snapshot: { mode: 'never' } });
    await server.query(`INSERT INTO modes VALUES (3)`);
    const [first] = await collectEvents(never, 1);
    await never.stop();
    assert.equal(first!.op, 'c');
    const out = join(dir, 'modes.jsonl');
    const config = join(dir, 'modes.yaml');
    writeFileSync(config, `source: { url: "\${DATABASE_URL}", slot: modes_only, publication: modes_pub }\nsink: { type: file, path: "${out}" }\nsnapshot: { mode: initial_only }\nheartbeat: false\n`);
    const result = await runCli(['run', '--config', config], { DATABASE_URL: server.url() });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(lines(out).map((e) => `${e.op} ${e.after!.id} ${e.source.snapshot}`), ['r 1 true', 'r 2 true', 'r 3 last']);
  });
});
