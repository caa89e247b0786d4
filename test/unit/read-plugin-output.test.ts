/** Reading pg_recvlogical output: fixtures captured from PostgreSQL 15 with wal2json 2.5 and test_decoding. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { eventMeta } from '../../src/events/event-builder.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { createReader, type ReadOptions } from '../../src/read/read-events.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

async function read(text: string, options: ReadOptions = {}): Promise<{ events: ChangeEvent[]; stats: ReturnType<typeof createReader>['stats'] }> {
  const reader = createReader({ outbox: false, ...options });
  const events: ChangeEvent[] = [];
  async function* lines() { yield* text.split('\n'); }
  for await (const batch of reader.read(lines())) events.push(...batch.events);
  return { events, stats: reader.stats };
}

const summary = (e: ChangeEvent) => (e.op === 'm' ? `m ${e.message!.prefix} ${e.message!.content}` : `${e.op} ${e.source.table} ${JSON.stringify(e.after ?? e.before)}`);

const ALICE = '{"id":1,"name":"alice","email":"a@x","score":"1.50","tags":["a","b c"],"meta":{"k":[1,2]},"at":"2024-01-02T03:04:05Z"}';
const ALICE_UPDATED = ALICE.replace('"a@x"', '"it\'s"');
const BOB = '{"id":2,"name":"bob","email":null,"score":null,"tags":null,"meta":null,"at":null}';

describe('wal2json type names and bytea', () => {
  // Captured from PostgreSQL 15.20 with wal2json 2.5: include-typmod=0 (format 1)
  // names types by typname; bytea is bare hex in both formats.
  const typmod0 = '{"change":[{"kind":"insert","schema":"public","table":"t","columnnames":["id","b","f","r","ts","tz","ok","arr","n","c","ch","vc","d"],"columntypes":["int4","bytea","float8","float4","timestamp","timestamptz","bool","_int4","numeric","bpchar","char","varchar","date"],"columnvalues":[1,"010203",null,-0,"2024-01-02 03:04:05","2024-01-02 01:04:05+00",true,"{1,2}",1.50,"ab ","x","v","0044-03-15 BC"]}]}';
  const v2 = ['{"action":"B"}', '{"action":"I","schema":"public","table":"t","columns":[{"name":"id","type":"integer","value":1},{"name":"b","type":"bytea","value":"010203"},{"name":"r","type":"real","value":-0},{"name":"ts","type":"timestamp without time zone","value":"2024-01-02 03:04:05"},{"name":"ok","type":"boolean","value":true},{"name":"arr","type":"integer[]","value":"{1,2}"},{"name":"ch","type":"char","value":"x"}]}', '{"action":"C"}'].join('\n');

  test('include-typmod=0 (typnames: int4, bool, _int4, timestamptz, ...) converts as pgoutput does', async () => {
    const { events } = await read(typmod0);
    assert.equal(JSON.stringify(events[0]!.after), '{"id":1,"b":"AQID","f":null,"r":-0,"ts":"2024-01-02T03:04:05","tz":"2024-01-02T01:04:05Z","ok":true,"arr":[1,2],"n":"1.50","c":"ab ","ch":"x","vc":"v","d":"-000043-03-15"}');
  });

  test('format 2: bytea is base64 like pgoutput gives it (not wal2json\'s hex), -0 keeps its sign', async () => {
    const { events } = await read(v2);
    assert.equal(JSON.stringify(events[0]!.after), '{"id":1,"b":"AQID","r":-0,"ts":"2024-01-02T03:04:05","ok":true,"arr":[1,2],"ch":"x"}');
  });
});

describe('ids without LSNs or xids (wal2json without include-lsn and include-xids)', () => {
  const insert = (id: number) => `{"action":"I","schema":"public","table":"t","columns":[{"name":"id","type":"integer","value":${id}}]}`;
  const file = (...ids: number[]) => ids.flatMap((id) => ['{"action":"B"}', insert(id), '{"action":"C"}']).join('\n');

  test('two files do not collide, the same file read twice gives the same ids, identical transactions in one file differ', async () => {
    const first = (await read(file(1, 2))).events.map((e) => e.id);
    const second = (await read(file(3, 4))).events.map((e) => e.id);
    const again = (await read(file(1, 2))).events.map((e) => e.id);
    assert.equal(new Set([...first, ...second]).size, 4, `${first} ${second}`);
    assert.deepEqual(again, first, 'deterministic: a re-read is deduplicated by the sink');
    for (const id of first) assert.match(id, /^tx[0-9a-f]{16}:1$/);
    const twice = (await read(file(5, 5))).events.map((e) => e.id);
    assert.notEqual(twice[0], twice[1]);
    assert.match(twice[1]!, /^tx[0-9a-f]{16}-2:1$/);
  });
});

describe('files written under another DateStyle or IntervalStyle', () => {
  const row = (d: string, ts: string, tz: string, iv: string) => ['{"action":"B"}', `{"action":"I","schema":"public","table":"t","columns":[{"name":"d","type":"date","value":"${d}"},{"name":"ts","type":"timestamp without time zone","value":"${ts}"},{"name":"tz","type":"timestamp with time zone","value":"${tz}"},{"name":"iv","type":"interval","value":"${iv}"}]}`, '{"action":"C"}'].join('\n');
  const expected = '{"d":"2013-02-04","ts":"2013-02-04T10:00:00","tz":"2013-02-04T07:00:00Z","iv":"P1DT2H"}';

  test('SQL, DMY with --date-order dmy; German and Postgres styles need no order; every IntervalStyle', async () => {
    const sqlDmy = await read(row('04/02/2013', '04/02/2013 10:00:00', '04/02/2013 10:00:00 +03', '1 day 02:00:00'), { dateOrder: 'dmy' });
    assert.equal(JSON.stringify(sqlDmy.events[0]!.after), expected);
    const german = await read(row('04.02.2013', '04.02.2013 10:00:00', '04.02.2013 07:00:00 UTC', '@ 1 day 2 hours'));
    assert.equal(JSON.stringify(german.events[0]!.after), expected);
    const postgres = await read(row('2013-02-04', 'Mon Feb 04 10:00:00 2013', 'Mon Feb 04 07:00:00 2013 UTC', '1 2:00:00'));
    assert.equal(JSON.stringify(postgres.events[0]!.after), expected);
  });

  test('an ambiguous date without --date-order stops with one line that names the option', async () => {
    await assert.rejects(read(row('04/02/2013', '04/02/2013 10:00:00', '04/02/2013 10:00:00 +03', '1 day')), (error: unknown) => error instanceof CdcError && error.code === 'PGCDC_BAD_INPUT' && /--date-order mdy or --date-order dmy/.test(error.message));
  });

  test('a zone abbreviation reads with the server TimeZone (--timezone), and stops with one line naming the option without it', async () => {
    const berlin = await read(row('04.02.2013', '04.02.2013 10:00:00', '04.02.2013 08:00:00 CET', '1 day 02:00:00'), { timeZone: 'Europe/Berlin' });
    assert.equal(JSON.stringify(berlin.events[0]!.after), expected);
    const kolkata = await read(row('2013-02-04', 'Mon Feb 04 10:00:00 2013', 'Mon Feb 04 12:30:00 2013 IST', '1 day 02:00:00'), { timeZone: 'Asia/Kolkata' });
    assert.equal(JSON.stringify(kolkata.events[0]!.after), expected);
    await assert.rejects(read(row('04.02.2013', '04.02.2013 10:00:00', '04.02.2013 08:00:00 CET', '1 day')), (error: unknown) => error instanceof CdcError && error.code === 'PGCDC_BAD_INPUT' && /abbreviation CET.*--timezone/.test(error.message));
  });
});

describe('test_decoding TRUNCATE', () => {
  test('of several tables (as PostgreSQL 17 prints it) is one event per table, quoted names unquoted, in order', async () => {
    const { events } = await read([
      'BEGIN 740',
      'table public.a, public.b, public."C d": TRUNCATE: restart_seqs cascade',
      'COMMIT 740',
      'BEGIN 741',
      'table public.b: TRUNCATE: (no-flags)',
      'COMMIT 741',
    ].join('\n'));
    assert.deepEqual(events.map((e) => `${e.op} ${e.source.schema}.${e.source.table}`), ['t public.a', 't public.b', 't public.C d', 't public.b']);
    assert.deepEqual(events.map((e) => e.id), ['xid740:1', 'xid740:2', 'xid740:3', 'xid741:1']);
  });
});

describe('pgcdc read: the three formats give the same events', () => {
  test('test_decoding', async () => {
    const { events, stats } = await read(fixture('test-decoding.txt'));
    assert.equal(stats.format, 'test_decoding');
    assert.deepEqual(events.map(summary), [
      `c users ${ALICE}`, `c users ${BOB}`, `u users ${ALICE_UPDATED}`, 'd users {"id":2}',
      'm outbox {"id":1}', 'm log OK', 'c nokey {"v":"x"}', 't nokey null',
    ]);
    assert.equal(events[0]!.source.txId, 726);
    assert.equal(events[0]!.source.lsn, null, 'test_decoding gives no LSNs');
    assert.equal(typeof events[0]!.source.ts_ms, 'number', 'commit time from "COMMIT 726 (at ...)"');
    assert.equal(events[0]!.id, 'xid726:1');
    assert.equal(eventMeta(events[0]!)!.key, null, 'test_decoding does not say which columns are the key');
    assert.deepEqual(eventMeta(events[3]!)!.key, { id: 2 }, 'a delete shows the replica identity');
    assert.equal(events[5]!.source.ts_ms, null, 'when a non-transactional message was written is unknown');
    assert.equal(events[4]!.message!.transactional, true);
    assert.equal(events[5]!.message!.transactional, false);
  });
  test('wal2json format-version 1, pretty-printed over many lines', async () => {
    const { events, stats } = await read(fixture('wal2json-v1-pretty.log'));
    assert.equal(stats.format, 'wal2json-v1');
    assert.deepEqual(events.map(summary), [
      `c users ${ALICE}`, `c users ${BOB}`, `u users ${ALICE_UPDATED}`, 'd users {"id":2}',
      'm outbox {"id":1}', 'm log OK', 'c nokey {"v":"x"}',
    ]);
    assert.deepEqual(events[2]!.before, { id: 1 }, 'wal2json sends the old key on every update');
    assert.deepEqual(eventMeta(events[0]!)!.key, { id: 1 }, 'include-pk gives the key');
    assert.equal(events[0]!.id, '0/15325B8:1', 'ids from nextlsn, the end of the transaction');
  });
  test('wal2json format-version 2, one line per change', async () => {
    const { events, stats } = await read(fixture('wal2json-v2.jsonl'));
    assert.equal(stats.format, 'wal2json-v2');
    assert.deepEqual(events.map(summary), [
      `c users ${ALICE}`, `c users ${BOB}`, `u users ${ALICE_UPDATED}`, 'd users {"id":2}',
      'm outbox {"id":1}', 'm log OK', 'c nokey {"v":"x"}', 't nokey null',
    ]);
    assert.equal(events[0]!.source.lsn, 0x15323c0, 'per-change LSNs');
    assert.equal(events[0]!.id, '0/1532588:1', 'ids from the commit LSN, as with pgoutput');
    assert.equal(events[5]!.id, '0/15327C0:0');
  });
  test('wal2json format-version 1 on single lines (no pretty-print) and input from several documents per file', async () => {
    const compact = fixture('wal2json-v1-pretty.log').replace(/\n\t*/g, '').replace(/\}\{/g, '}\n{');
    const { events } = await read(compact);
    assert.equal(events.length, 7);
  });
});

describe('pgcdc read: malformed input', () => {
  test('a malformed line stops with its line number; --skip-bad goes on and counts', async () => {
    const lines = fixture('test-decoding.txt').split('\n');
    lines.splice(5, 0, 'table public.users: INSERT: id[integer');
    const broken = lines.join('\n');
    await assert.rejects(read(broken), (error: unknown) => error instanceof CdcError && error.code === 'PGCDC_BAD_INPUT' && /^input: line 6: missing type of column id; fix the input or pass --skip-bad/.test(error.message));
    const { events, stats } = await read(broken, { skipBad: true });
    assert.equal(stats.skipped, 1);
    assert.equal(stats.firstSkippedLine, 6);
    assert.ok(events.length >= 6, 'the rest of the file is read');
  });
  test('invalid JSON and a truncated wal2json document', async () => {
    await assert.rejects(read('{"action":"B","xid":1}\n{"action":"I", oops}\n'), /line 2: invalid JSON/);
    const truncated = fixture('wal2json-v1-pretty.log').split('\n').slice(0, 20).join('\n');
    await assert.rejects(read(truncated), /line 1: input ends inside a record that started here \(truncated file\?\)/);
    const { stats } = await read(truncated, { skipBad: true });
    assert.equal(stats.skipped, 1);
  });
  test('a transaction without COMMIT at the end, and unknown input', async () => {
    await assert.rejects(read('BEGIN 5\ntable public.t: INSERT: id[integer]:1\n'), /input ends inside a transaction \(no COMMIT\)/);
    await assert.rejects(read('hello world\n'), /line 1: cannot tell the output plugin/);
    await assert.rejects(read('BEGIN 1\n', { plugin: 'wal2json' }), /looks like test_decoding output, not wal2json/);
  });
  test('multi-line quoted values and message contents in test_decoding', async () => {
    const text = "BEGIN 9\ntable public.t: INSERT: id[integer]:1 note[text]:'line one\nline two' b[boolean]:true bits[bit(3)]:B'101'\nmessage: transactional: 1 prefix: p, sz: 7 content:a\nb\nc d\nCOMMIT 9\n";
    const { events } = await read(text);
    assert.deepEqual(events[0]!.after, { id: 1, note: 'line one\nline two', b: true, bits: '101' });
    assert.equal(events[1]!.message!.content, 'a\nb\nc d');
  });
});
