/** The PostgreSQL sink (audit trail and mirror), a second real server as the target. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/config/load-config.ts';
import { createPipeline } from '../../src/pipeline/pipeline.ts';
import pg from 'pg';
import { PostgresAuditSink } from '../../src/sink/postgres-audit-sink.ts';
import { parseMessage, runWithBinaryParameters } from '../../src/sink/binary-parameter-statement.ts';
import { toRecord, DEBEZIUM_TOPICS } from '../../src/sink/outbound-record.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { attachEventMeta, setRoute } from '../../src/events/event-builder.ts';
import { eventually } from '../support/collect.ts';
import { startTogether } from '../support/servers.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

const TABLE = `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), tags text[], meta jsonb, at timestamptz)`;
let source: TestPostgres;
let target: TestPostgres;

before(async () => {
  [source, target] = await startTogether<[TestPostgres, TestPostgres]>([() => startPostgres(latestMajor()), () => startPostgres(latestMajor())], (s) => s.stop());
  await source.query(TABLE);
  await source.query('CREATE PUBLICATION items FOR TABLE items');
  await target.query(TABLE);
});
after(async () => {
  await source?.stop();
  await target?.stop();
});

test('audit trail: one row per event with indexed table, key, op, commit time and audit columns; a re-delivery is a no-op', async () => {
  const config = parseConfig({
    source: { url: source.url(), slot: 'to_audit', publication: 'items', statusInterval: '100ms' },
    sink: { type: 'postgres', url: target.url(), mode: 'audit', table: 'public.change_log' },
    heartbeat: false,
  });
  const pipeline = createPipeline(config.pipelines[0]!);
  await pipeline.start();
  try {
    await source.query(`BEGIN; SELECT pg_logical_emit_message(true, 'audit', '{"user":"bob@example.com","client":"10.0.0.1"}');
      INSERT INTO items (id, name) VALUES (1, 'apple'); UPDATE items SET name = 'Äpfel 🍎 "quoted"' WHERE id = 1; COMMIT`);
    await source.query(`DELETE FROM items WHERE id = 1`);
    const rows = await eventually('three audit rows', () => target.query<{ op: string; source_table: string; key: unknown; audit: unknown; commit_time: Date; event: ChangeEvent }>('SELECT * FROM change_log ORDER BY id'), (r) => r.length === 3);
    assert.deepEqual(rows.map((r) => [r.op, r.source_table, r.key]), [['c', 'items', { id: 1 }], ['u', 'items', { id: 1 }], ['d', 'items', { id: 1 }]]);
    assert.deepEqual(rows[0]!.audit, { user: 'bob@example.com', client: '10.0.0.1' });
    assert.equal(rows[2]!.audit, null);
    assert.ok(rows[0]!.commit_time instanceof Date);
    const byUser = await target.query(`SELECT count(*)::int AS n FROM change_log WHERE audit->>'user' = 'bob@example.com'`);
    assert.equal((byUser[0] as { n: number }).n, 2, 'queryable by audit fields');

    const sink = new PostgresAuditSink({ url: target.url(), table: 'public.change_log', auditField: 'auditData' });
    await sink.open();
    await sink.write(rows.map((r) => toRecord(r.event, DEBEZIUM_TOPICS)));
    await sink.close();
    assert.equal(((await target.query('SELECT count(*)::int AS n FROM change_log'))[0] as { n: number }).n, 3, 're-delivered events change nothing');
    assert.deepEqual([rows[0]!.event.op, rows[0]!.event.after?.id, rows[0]!.event.after?.name], ['c', 1, 'apple'], 'the event column holds the event');
    assert.equal(rows[1]!.event.after?.name, 'Äpfel 🍎 "quoted"', 'multi-byte text and escapes arrive intact');

    // The event column holds the event whatever the record's value is: the event's JSON
    // itself (taken as it is), an outbox payload, or a CloudEvents wrapper.
    const events = rows.map((r) => ({ ...r.event, id: `${r.event.id}:again` }));
    // Read back from the table, the events lost their metadata (the row's key): given back as the stream attaches it.
    for (const e of events) attachEventMeta(e, { key: { id: 1 }, commitLsn: undefined, lsn: undefined });
    const plain = toRecord(events[0]!, DEBEZIUM_TOPICS);
    const routed = events[1]!;
    setRoute(routed, { topic: 'orders', key: '1', headers: {}, value: { payload: 'not the event' } });
    const wrapped = toRecord(events[2]!, DEBEZIUM_TOPICS);
    const asIs = new PostgresAuditSink({ url: target.url(), table: 'public.change_log_2', auditField: 'auditData', valueIsEvent: true });
    await asIs.open();
    await asIs.write([plain, toRecord(routed, DEBEZIUM_TOPICS)]);
    await asIs.close();
    const cloudEvents = new PostgresAuditSink({ url: target.url(), table: 'public.change_log_2', auditField: 'auditData', valueIsEvent: false });
    await cloudEvents.open();
    await cloudEvents.write([{ ...wrapped, value: `{"specversion":"1.0","data":${wrapped.value}}` }]);
    await cloudEvents.close();
    const stored = await target.query<{ event: ChangeEvent }>('SELECT event FROM change_log_2 ORDER BY id');
    assert.deepEqual(stored.map((r) => r.event), events.map((e) => JSON.parse(JSON.stringify(e)) as ChangeEvent));
    // The indexed columns, whichever way the row's JSON was written (the record's key as it is, or the event's key serialized).
    const columns = await target.query('SELECT id, source_schema, source_table, op, key, commit_time, tx_id, audit FROM change_log_2 ORDER BY id');
    assert.deepEqual(columns, events.map((e) => ({
      id: e.id, source_schema: 'public', source_table: 'items', op: e.op, key: { id: 1 },
      commit_time: new Date(e.source.ts_ms!), tx_id: String(e.source.txId), audit: (e as { auditData?: unknown }).auditData ?? null,
    })));
    assert.notEqual(columns[0]!.audit, null, 'the audited transaction\'s audit context is in its own column');
  } finally {
    await pipeline.stop();
  }
});

test('audit trail: rows the table refuses (a CHECK, a \\u0000 jsonb does not take) are dead-lettered alone, each with its exact event and key; the rest land', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-audit-'));
  await source.query(`CREATE TABLE notes (id int PRIMARY KEY, doc json, name text); CREATE PUBLICATION notes FOR TABLE notes`);
  // The audit table, made beforehand with a rule of the user's own: no event of a row named 'poison'.
  await target.query(`CREATE TABLE refusing_log (id text PRIMARY KEY, source_schema text NOT NULL, source_table text NOT NULL, op char(1) NOT NULL,
    key jsonb, commit_time timestamptz, tx_id bigint, audit jsonb, event jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
    CHECK (event->'after'->>'name' IS DISTINCT FROM 'poison'))`);
  const pipeline = createPipeline(parseConfig({
    source: { url: source.url(), slot: 'to_refusing_audit', publication: 'notes', statusInterval: '100ms' },
    sink: { type: 'postgres', url: target.url(), mode: 'audit', table: 'public.refusing_log' },
    deadLetter: { type: 'file', path: join(dir, 'dead.jsonl') },
    heartbeat: false,
  }).pipelines[0]!);
  await pipeline.start();
  try {
    // A json value keeps its text (spacing, duplicate keys): the dead letter must too.
    await source.query(`INSERT INTO notes SELECT g, ('{"n": ' || g || '}')::json, 'fine' FROM generate_series(1, 200) g`);
    await source.query(`BEGIN; INSERT INTO notes VALUES (201, '{"a": 1,  "a": 2}', 'poison');
      SELECT pg_logical_emit_message(true, 'note', 'nul\\000inside'::bytea);
      INSERT INTO notes SELECT g, '[]', 'fine' FROM generate_series(202, 300) g; COMMIT`);
    await eventually('every row but the two refused', () => target.query<{ n: number }>('SELECT count(*)::int AS n FROM refusing_log'), (r) => r[0]!.n === 299);
    const lines = await eventually('two dead letters', async () => {
      try { return readFileSync(join(dir, 'dead.jsonl'), 'utf8').trim().split('\n'); } catch { return []; }
    }, (l) => l.length === 2);
    const poison = lines.find((l) => l.includes('"name":"poison"'))!;
    assert.ok(poison.includes('"doc":{"a": 1,  "a": 2}'), `the json value's own text: ${poison.slice(0, 400)}`);
    const [row, message] = [poison, lines.find((l) => l !== poison)!].map((l) => JSON.parse(l) as { reason: string; stage: string; event: ChangeEvent; meta?: { key: unknown } });
    assert.match(row!.reason, /violates check constraint.*SQLSTATE 23514/);
    assert.deepEqual([row!.event.op, row!.event.after?.id, row!.meta?.key], ['c', 201, { id: 201 }]);
    assert.match(row!.stage, /^sink postgres audit/);
    assert.equal(message!.event.op, 'm');
    assert.match(message!.reason, /SQLSTATE 22P05/);
    const landed = await target.query<{ id: number }>(`SELECT (event->'after'->>'id')::int AS id FROM refusing_log WHERE op = 'c' ORDER BY 1`);
    assert.deepEqual(landed.map((r) => r.id), [...Array.from({ length: 200 }, (_, i) => i + 1), ...Array.from({ length: 99 }, (_, i) => i + 202)]);
    assert.equal(pipeline.health, 'running', 'refused rows do not stop the pipeline');

    // A record whose value is not its event (CloudEvents, Connect, an outbox route) is kept for its dead letter, as it was.
    const wrapped = new PostgresAuditSink({ url: target.url(), table: 'public.refusing_log', auditField: 'auditData', valueIsEvent: false });
    await wrapped.open();
    const again = (id: string, name: string) => {
      const e = { ...row!.event, id, after: { ...row!.event.after, name } } as ChangeEvent;
      attachEventMeta(e, { key: { id: 201 }, commitLsn: undefined, lsn: undefined });
      return { ...toRecord(e, DEBEZIUM_TOPICS), value: '{"specversion":"1.0"}' };
    };
    const [fine, refused] = [again('x:1', 'fine'), again('x:2', 'poison')];
    const result = await wrapped.write([fine, refused]);
    await wrapped.close();
    assert.equal(result?.rejected.length, 1);
    assert.equal(result?.rejected[0]!.record, refused, 'the record itself');
    assert.equal((await target.query('SELECT 1 FROM refusing_log WHERE id = $1', ['x:1'])).length, 1);
  } finally {
    await pipeline.stop();
  }
});

test('a sink connection the server ends is opened again by the retry, in audit and mirror mode: nothing is lost or applied twice', async () => {
  await source.query(`CREATE TABLE cut (id int PRIMARY KEY, v int); CREATE PUBLICATION cut FOR TABLE cut`);
  await target.query(`CREATE TABLE cut (id int PRIMARY KEY, v int)`);
  const pipelines = (['audit', 'mirror'] as const).map((mode) => createPipeline(parseConfig({
    source: { url: source.url(), slot: `cut_${mode}`, publication: 'cut', statusInterval: '100ms' },
    sink: { type: 'postgres', url: target.url(), mode, table: 'public.cut_log' },
    heartbeat: false,
    retry: { initialDelay: '50ms', maxDelay: '200ms' },
  }).pipelines[0]!));
  for (const p of pipelines) await p.start();
  try {
    await source.query(`INSERT INTO cut SELECT g, g FROM generate_series(1, 100) g`);
    await eventually('the first rows in both', () => target.query<{ a: number; m: number }>(`SELECT (SELECT count(*)::int FROM cut_log) AS a, (SELECT count(*)::int FROM cut) AS m`), (r) => r[0]!.a === 100 && r[0]!.m === 100);
    // The sink's sessions end (an administrator, a failover): both pipelines must notice on their next write.
    const ended = await target.query<{ n: number }>(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'pgcdc-sink'`);
    assert.equal(ended[0]!.n, 2);
    await source.query(`INSERT INTO cut SELECT g, g FROM generate_series(101, 300) g; UPDATE cut SET v = -v WHERE id <= 50`);
    await eventually('every change in both', () => target.query<{ a: number; m: number; neg: number }>(`SELECT (SELECT count(*)::int FROM cut_log) AS a, (SELECT count(*)::int FROM cut) AS m, (SELECT count(*)::int FROM cut WHERE v < 0) AS neg`), (r) => r[0]!.a === 350 && r[0]!.m === 300 && r[0]!.neg === 50);
    const distinct = await target.query<{ n: number }>(`SELECT count(DISTINCT event->>'id')::int AS n FROM cut_log`);
    assert.equal(distinct[0]!.n, 350, 'each event once');
    for (const p of pipelines) assert.equal(p.health, 'running');
  } finally {
    for (const p of pipelines) await p.stop();
  }
});

test('a statement run once per binary parameter in one round trip: all of it or none of it, and the connection stays usable after a refusal', async () => {
  await target.query(`CREATE TABLE atomic (doc jsonb CHECK (doc->>'ok' = 'yes'))`);
  const client = new pg.Client({ connectionString: target.url() });
  await client.connect();
  try {
    const insert = parseMessage('INSERT INTO atomic SELECT * FROM jsonb_array_elements($1::jsonb)', 3802);
    const doc = (text: string) => Buffer.concat([Buffer.from([1]), Buffer.from(text)]);
    await assert.rejects(runWithBinaryParameters(client, insert, [doc('[{"ok":"yes","n":1}]'), doc('[{"ok":"no"}]')]), (e: { code?: string }) => e.code === '23514');
    assert.equal((await client.query('SELECT count(*)::int AS n FROM atomic')).rows[0].n, 0, 'the first value was rolled back with the second');
    await runWithBinaryParameters(client, insert, [doc('[{"ok":"yes","n":1},{"ok":"yes","n":2}]'), doc('[{"ok":"yes","n":"ü ✓"}]')]);
    assert.deepEqual((await client.query(`SELECT doc->>'n' AS n FROM atomic ORDER BY 1`)).rows.map((r: { n: string }) => r.n), ['1', '2', 'ü ✓']);
    await assert.rejects(runWithBinaryParameters(client, parseMessage('INSERT INTO missing SELECT $1::jsonb', 3802), [doc('{}')]), (e: { code?: string }) => e.code === '42P01');
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await client.end();
  }
});

test('mirror: inserts, updates (including a key change), deletes and a truncate leave the target equal to the source', async () => {
  const config = parseConfig({
    source: { url: source.url(), slot: 'to_mirror', publication: 'items', statusInterval: '100ms' },
    sink: { type: 'postgres', url: target.url(), mode: 'mirror' },
    heartbeat: false,
  });
  const pipeline = createPipeline(config.pipelines[0]!);
  await pipeline.start();
  const snapshot = (db: TestPostgres) => db.query('SELECT * FROM items ORDER BY id');
  try {
    await source.query(`INSERT INTO items VALUES (1, 'pear', 1.50, '{a,"b c"}', '{"k":[1,2]}', '2024-01-02 03:04:05+00'), (2, 'fig', NULL, NULL, NULL, NULL), (3, 'kiwi', 9.99, '{}', 'null', 'infinity')`);
    await source.query(`UPDATE items SET name = 'Pear', price = price + 1 WHERE id = 1`);
    await source.query(`UPDATE items SET id = 20 WHERE id = 2`);
    await source.query(`DELETE FROM items WHERE id = 3`);
    const expected = await snapshot(source);
    await eventually('the mirror to match the source', () => snapshot(target), (rows) => JSON.stringify(rows) === JSON.stringify(expected));
    await source.query('TRUNCATE items');
    await source.query(`INSERT INTO items (id, name) VALUES (5, 'after truncate')`);
    const later = await snapshot(source);
    await eventually('the mirror to follow the truncate', () => snapshot(target), (rows) => JSON.stringify(rows) === JSON.stringify(later));
  } finally {
    await pipeline.stop();
  }
});

test('mirror under many versions per row: batched upserts and deletes, unchanged TOASTed values kept, keyless tables by full row, a poison row alone dead-lettered with the database reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-mirror-'));
  const tables = `CREATE TABLE hot (id int PRIMARY KEY, v int, big text);
    CREATE TABLE logs (msg text, n int); ALTER TABLE logs REPLICA IDENTITY FULL;`;
  await source.query(`${tables} CREATE PUBLICATION mirror_more FOR TABLE hot, logs; INSERT INTO logs VALUES ('before', 9), ('before', 9)`);
  // The target refuses negative v: one poison row among hundreds.
  await target.query(`${tables} ALTER TABLE hot ADD CONSTRAINT v_not_negative CHECK (v >= 0)`);
  const pipeline = createPipeline(parseConfig({
    source: { url: source.url(), slot: 'mirror_more', publication: 'mirror_more', statusInterval: '100ms' },
    sink: { type: 'postgres', url: target.url(), mode: 'mirror' },
    deadLetter: { type: 'file', path: join(dir, 'dead.jsonl') },
    heartbeat: false,
    // The keyless table's existing rows come by snapshot, read by row position.
    snapshot: { mode: 'initial' },
  }).pipelines[0]!);
  await pipeline.start();
  const rows = (db: TestPostgres, sql: string) => db.query(sql);
  try {
    await source.query(`INSERT INTO hot SELECT g, g, CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 400) END FROM generate_series(1, 300) g`);
    // Five versions of every row in one transaction, five more across transactions; big is never touched (TOAST unchanged).
    await source.query(`BEGIN; ${'UPDATE hot SET v = v + 1; '.repeat(5)} COMMIT`);
    for (let i = 0; i < 5; i++) await source.query(`UPDATE hot SET v = v * 2 WHERE id % 3 = ${i % 3}`);
    await source.query(`DELETE FROM hot WHERE id % 7 = 0; INSERT INTO hot VALUES (1000, -5, 'poison'), (1001, 1, 'after the poison')`);
    await source.query(`INSERT INTO logs VALUES ('same', 1), ('same', 1), ('other', 2); UPDATE logs SET n = 3 WHERE msg = 'other'; DELETE FROM logs WHERE msg = 'same' AND ctid = (SELECT min(ctid) FROM logs WHERE msg = 'same')`);
    const expectedHot = (await rows(source, 'SELECT id, v, md5(big) AS big FROM hot WHERE id <> 1000 ORDER BY id'));
    await eventually('the mirror to match the source (but the poison row)', () => rows(target, 'SELECT id, v, md5(big) AS big FROM hot ORDER BY id'), (r) => JSON.stringify(r) === JSON.stringify(expectedHot));
    await eventually('the keyless table to match', () => rows(target, 'SELECT msg, n FROM logs ORDER BY msg, n'), (r) => JSON.stringify(r) === JSON.stringify([{ msg: 'before', n: 9 }, { msg: 'before', n: 9 }, { msg: 'other', n: 3 }, { msg: 'same', n: 1 }]));
    const dead = readFileSync(join(dir, 'dead.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { reason: string; event: { after: { id: number } } });
    assert.deepEqual(dead.map((d) => d.event.after.id), [1000]);
    assert.match(dead[0]!.reason, /violates check constraint "v_not_negative".*SQLSTATE 23514/);
    assert.equal(pipeline.health, 'running', 'a poison row does not stop the mirror');
  } finally {
    await pipeline.stop();
  }
});
