/**
 * Every row of docs/types.md, against a real server: a value goes in through
 * SQL, comes out of pgoutput as text, and must become exactly this JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stringifyExact } from '../../src/core/json.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { collectEvents } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

/** [column type, SQL literal, expected JSON text of the value] */
const CASES: Array<[string, string, string]> = [
  ['boolean', 'true', 'true'],
  ['boolean', 'false', 'false'],
  ['smallint', '-32768', '-32768'],
  ['integer', '2147483647', '2147483647'],
  ['bigint', '9223372036854775807', '9223372036854775807'],
  ['bigint', '-9223372036854775808', '-9223372036854775808'],
  ['bigint', '9007199254740993', '9007199254740993'],
  ['bigint', '42', '42'],
  ['numeric', '12345678901234567890.123456789012', '"12345678901234567890.123456789012"'],
  ['numeric(10,2)', '3.50', '"3.50"'],
  ['numeric', "'NaN'", '"NaN"'],
  ['numeric', "'Infinity'", '"Infinity"'],
  ['numeric', "'-Infinity'", '"-Infinity"'],
  ['real', '1.1', '1.1'],
  ['real', "'-Infinity'", '"-Infinity"'],
  ['double precision', '0.1', '0.1'],
  ['double precision', '1.7976931348623157e308', '1.7976931348623157e+308'],
  ['double precision', "'NaN'", '"NaN"'],
  ['double precision', "'Infinity'", '"Infinity"'],
  ['double precision', "'-0'", '-0'],
  ['real', "'-0'", '-0'],
  ['double precision', "'-Infinity'", '"-Infinity"'],
  ['double precision[]', `'{NaN,-0,Infinity,1.5}'`, '["NaN",-0,"Infinity",1.5]'],
  ['text', `E'h\\u00e9llo "q" \\n \\u2713'`, '"héllo \\"q\\" \\n ✓"'],
  ['varchar(10)', "'abc'", '"abc"'],
  ['char(5)', "'ab'", '"ab   "'],
  ['"char"', "'x'", '"x"'],
  ['name', "'a_name'", '"a_name"'],
  ['bytea', "'\\x00ff10'", '"AP8Q"'],
  ['uuid', "'298c2cc3-71bb-4d2b-b5b4-1b14006d56e6'", '"298c2cc3-71bb-4d2b-b5b4-1b14006d56e6"'],
  // json is text the user chose to keep as text: delivered verbatim (duplicate keys, order, spacing, escapes)
  ['json', `'{"a": [1, 2.50, 12345678901234567890], "b": null}'`, '{"a": [1, 2.50, 12345678901234567890], "b": null}'],
  ['json', `'{"dup":1,"dup":2}'`, '{"dup":1,"dup":2}'],
  ['json', `'{"z":1,  "a" :\t[ ],"n":{"dup":true,"dup":false}}'`, '{"z":1,  "a" :\t[ ],"n":{"dup":true,"dup":false}}'],
  ['json', `'"caf\\u00e9"'`, '"caf\\u00e9"'],
  ['json', `'"plain"'`, '"plain"'],
  ['json', "'  true '", 'true'],
  ['json', "'null'", 'null'],
  ['json[]', `ARRAY['{"k":1,"k":2}'::json, '[1e400]'::json]`, '[{"k":1,"k":2},[1e400]]'],
  ['jsonb', `'{"nested": {"x": true}, "n": 1e2}'`, '{"n":100,"nested":{"x":true}}'],
  ['jsonb', "'[]'", '[]'],
  ['json', `'{"a": 1e400, "b": -0, "c": 1.0, "d": -0.0}'`, '{"a": 1e400, "b": -0, "c": 1.0, "d": -0.0}'],
  ['json', "'1e400'", '1e400'],
  ['json', "'-1E-400'", '-1E-400'],
  ['jsonb', `'{"a": 1e400}'`, `{"a":1${'0'.repeat(400)}}`],
  ['jsonb', "'-0'", '0'], // numeric, inside jsonb, has no negative zero: PostgreSQL stores 0
  // 16+ digits with the point inside: no double holds them, so they keep their text
  ['jsonb', `'{"a": 31.181986179340492, "b": [-4287109598.1251272, 0.1, 1.50]}'`, '{"a":31.181986179340492,"b":[-4287109598.1251272,0.1,1.50]}'],
  // every jsonb number as PostgreSQL writes it: the scale kept, tiny values in full, whatever else the document holds
  ['jsonb', `'{"a": 1.50, "n": 100, "t": 0.0000001, "z": 0.0}'`, '{"a":1.50,"n":100,"t":0.0000001,"z":0.0}'],
  // PostgreSQL's key order (shorter keys first), also for keys a JavaScript object would move first (array indexes)
  ['jsonb', `'{"a": 1, "10": 2, "9": [3], "note": "x, y: z"}'`, '{"9":[3],"a":1,"10":2,"note":"x, y: z"}'],
  ['jsonb', `'{"x": {"b": 1, "10": 2}, "arr": [{"k": true, "20": null}]}'`, '{"x":{"b":1,"10":2},"arr":[{"k":true,"20":null}]}'],
  ['jsonb', `'{"b": 1.50, "10": 31.181986179340492, "01": 0}'`, '{"b":1.50,"01":0,"10":31.181986179340492}'],
  ['date', "'2024-02-29'", '"2024-02-29"'],
  ['date', "'infinity'", '"infinity"'],
  ['date', "'0044-03-15 BC'", '"-000043-03-15"'],
  ['time', "'23:59:59.999999'", '"23:59:59.999999"'],
  ['timetz', "'12:00:00+05:30'", '"12:00:00+05:30"'],
  ['timetz', "'12:00:00+00'", '"12:00:00Z"'],
  ['timestamp', "'2024-01-02 03:04:05.678901'", '"2024-01-02T03:04:05.678901"'],
  ['timestamp', "'-infinity'", '"-infinity"'],
  ['timestamptz', "'2024-01-02 03:04:05+02'", '"2024-01-02T01:04:05Z"'],
  ['timestamptz', "'infinity'", '"infinity"'],
  ['interval', "'1 year 2 months 3 days 04:05:06.5'", '"P1Y2M3DT4H5M6.5S"'],
  ['interval', "'-1 day'", '"P-1D"'],
  ['integer[]', "'{{1,2},{3,NULL}}'", '[[1,2],[3,null]]'],
  ['text[]', `'{"a b","c\\"d",NULL,"NULL",""}'`, '["a b","c\\"d",null,"NULL",""]'],
  ['bigint[]', "'{9223372036854775807,1}'", '[9223372036854775807,1]'],
  ['numeric[]', "'{1.10,NaN}'", '["1.10","NaN"]'],
  ['boolean[]', "'{t,f}'", '[true,false]'],
  ['timestamptz[]', `'{"2024-01-02 03:04:05+00"}'`, '["2024-01-02T03:04:05Z"]'],
  ['jsonb[]', `ARRAY['{"a":1}'::jsonb]`, '[{"a":1}]'],
  ['jsonb[]', `ARRAY['{"a": 1, "10": 2}'::jsonb, '[]'::jsonb]`, '[{"a":1,"10":2},[]]'],
  ['integer[]', "'[0:1]={7,8}'", '[7,8]'],
  ['mood', "'happy'", '"happy"'],
  ['mood[]', "'{sad,happy}'", '["sad","happy"]'],
  ['posint', '5', '5'],
  ['tagged', `ROW(1, 'a "b" c', NULL)::tagged`, '{"x":1,"label":"a \\"b\\" c","at":null}'],
  ['int4range', "'[1,10)'", '"[1,10)"'],
  ['numrange', "'(1.5,2.5]'", '"(1.5,2.5]"'],
  ['tstzrange', `'[2024-01-01 00:00:00+00,infinity)'`, '"[\\"2024-01-01 00:00:00+00\\",infinity)"'],
  ['daterange', "'empty'", '"empty"'],
  ['int4range[]', `'{"[1,3)","[5,7)",empty}'`, '["[1,3)","[5,7)","empty"]'],
  ['int8range[]', `'{"[1,9223372036854775806)"}'`, '["[1,9223372036854775806)"]'],
  ['numrange[]', `'{"(1.5,2.5]",NULL}'`, '["(1.5,2.5]",null]'],
  ['daterange[]', `'{"[2024-01-01,2024-01-05)"}'`, '["[2024-01-01,2024-01-05)"]'],
  ['tsrange[]', `ARRAY['[2024-01-01 00:00,2024-01-02 00:00)'::tsrange]`, '["[\\"2024-01-01 00:00:00\\",\\"2024-01-02 00:00:00\\")"]'],
  ['tstzrange[]', `ARRAY['[2024-01-01 00:00+00,)'::tstzrange]`, '["[\\"2024-01-01 00:00:00+00\\",)"]'],
  ['int4multirange[]', `ARRAY['{[1,3),[5,7)}'::int4multirange]`, '["{[1,3),[5,7)}"]'],
  ['inet', "'192.168.0.1/24'", '"192.168.0.1/24"'],
  ['cidr', "'10.0.0.0/8'", '"10.0.0.0/8"'],
  ['macaddr', "'08:00:2b:01:02:03'", '"08:00:2b:01:02:03"'],
  ['macaddr8', "'08:00:2b:01:02:03:04:05'", '"08:00:2b:01:02:03:04:05"'],
  ['money', "'1234.56'", '"$1,234.56"'],
  ['bit(4)', "B'1010'", '"1010"'],
  ['varbit', "B'101'", '"101"'],
  ['tsvector', "'a fat cat'", `"'a' 'cat' 'fat'"`],
  ['xml', "'<a>1</a>'", '"<a>1</a>"'],
  ['point', "'(1,2.5)'", '{"x":1,"y":2.5}'],
  ['line', "'{1,2,3}'", '{"a":1,"b":2,"c":3}'],
  ['lseg', "'[(1,2),(3,4)]'", '[{"x":1,"y":2},{"x":3,"y":4}]'],
  ['box', "'(3,4),(1,2)'", '[{"x":3,"y":4},{"x":1,"y":2}]'],
  ['path', "'[(1,2),(3,4)]'", '{"closed":false,"points":[{"x":1,"y":2},{"x":3,"y":4}]}'],
  ['polygon', "'((0,0),(1,0),(1,1))'", '[{"x":0,"y":0},{"x":1,"y":0},{"x":1,"y":1}]'],
  ['circle', "'<(1,2),3>'", '{"center":{"x":1,"y":2},"radius":3}'],
  ['point', "'(NaN,Infinity)'", '{"x":"NaN","y":"Infinity"}'],
  ['point', "'(-0,-Infinity)'", '{"x":-0,"y":"-Infinity"}'],
  ['circle', "'<(1,2),Infinity>'", '{"center":{"x":1,"y":2},"radius":"Infinity"}'],
  ['box', "'(Infinity,1),(0,NaN)'", '[{"x":"Infinity","y":"NaN"},{"x":0,"y":1}]'], // PostgreSQL stores the corners it normalised
  ['pg_lsn', "'0/16B3C8'", '"0/16B3C8"'],
  ['integer', 'NULL', 'null'],
];

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres(latestMajor());
  await pg.query(`CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
    CREATE TYPE tagged AS (x integer, label text, at timestamptz);`);
  const columns = CASES.map(([type], i) => `c${i} ${type}`).join(', ');
  await pg.query(`CREATE TABLE typed (id serial PRIMARY KEY, ${columns})`);
});
after(async () => { await pg?.stop(); });

describe('Postgres values become JSON losslessly (docs/types.md)', () => {
  test('every row of the type table, with edge values, through a real pgoutput stream', async () => {
    const stream = await ChangeStream.open({ connection: pg.url(), slot: 'types', publication: 'types_pub', temporary: true });
    try {
      await pg.query(`INSERT INTO typed (${CASES.map((_, i) => `c${i}`).join(', ')}) VALUES (${CASES.map(([type, literal]) => `(${literal})::${type}`).join(', ')})`);
      const [event] = await collectEvents(stream, 1);
      const row = event!.after!;
      const failures: string[] = [];
      CASES.forEach(([type, literal, expected], i) => {
        const actual = stringifyExact(row[`c${i}`]);
        if (actual !== expected) failures.push(`${type} ${literal}: expected ${expected}, got ${actual}`);
      });
      assert.deepEqual(failures, []);
    } finally {
      await stream.stop();
    }
  });

  test('a json value stays its exact text through a transaction spilled to disk', async () => {
    await pg.query('CREATE TABLE doc (id int PRIMARY KEY, body json)');
    const stream = await ChangeStream.open({ connection: pg.url(), slot: 'types_spill', publication: 'types_spill_pub', publicationTables: ['public.doc'], temporary: true, memoryBudgetBytes: 64 * 1024, heartbeat: false });
    try {
      const text = '{"k": 1, "k": [1e400, -0],  "s":"caf\\u00e9"}';
      await pg.query(`INSERT INTO doc SELECT g, '${text}' FROM generate_series(1, 3000) g`);
      let peakMemory = 0;
      const sampler = setInterval(() => { peakMemory = Math.max(peakMemory, stream.stats.memoryUsed); }, 2);
      const events = await collectEvents(stream, 3000).finally(() => clearInterval(sampler));
      assert.equal(events.length, 3000);
      // 3,000 rows of ~60 bytes each held within a 64 KiB budget: the rest went through the spill file.
      assert.ok(peakMemory <= 64 * 1024, `buffered ${peakMemory} bytes`);
      for (const event of events) assert.equal(stringifyExact(event.after!.body), text, `event ${event.id}`);
      // The parsed value is what transforms see; it is read-only, and a copy serializes as itself.
      const body = events[0]!.after!.body as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['k', 's']);
      assert.equal(Object.isFrozen(body), true);
      assert.equal(stringifyExact({ ...body }), '{"k":[1e400,-0],"s":"café"}');
      assert.throws(() => { (body as { s: string }).s = 'changed'; }, TypeError);
    } finally {
      await stream.stop();
    }
  });

  test('under any session settings of the server (DateStyle, IntervalStyle, TimeZone, bytea_output, extra_float_digits), snapshot rows and streamed rows are the same values', async () => {
    await pg.query(`ALTER ROLE CURRENT_USER SET datestyle = 'SQL, DMY'; ALTER ROLE CURRENT_USER SET intervalstyle = 'postgres_verbose';
      ALTER ROLE CURRENT_USER SET timezone = 'Asia/Kolkata'; ALTER ROLE CURRENT_USER SET bytea_output = 'escape'; ALTER ROLE CURRENT_USER SET extra_float_digits = 0`);
    try {
      await pg.query('TRUNCATE typed');
      await pg.query(`INSERT INTO typed (${CASES.map((_, i) => `c${i}`).join(', ')}) VALUES (${CASES.map(([type, literal]) => `(${literal})::${type}`).join(', ')})`);
      const stream = await ChangeStream.open({ connection: pg.url(), slot: 'types_settings', publication: 'types_settings_pub', publicationTables: ['public.typed'], temporary: true, snapshot: { mode: 'initial' } });
      try {
        const [snapshotRow] = await collectEvents(stream, 1);
        assert.equal(snapshotRow!.op, 'r');
        await pg.query(`INSERT INTO typed (${CASES.map((_, i) => `c${i}`).join(', ')}) VALUES (${CASES.map(([type, literal]) => `(${literal})::${type}`).join(', ')})`);
        const [streamed] = await collectEvents(stream, 1);
        assert.equal(streamed!.op, 'c');
        const failures: string[] = [];
        for (const [where, row] of [['snapshot', snapshotRow!.after!], ['stream', streamed!.after!]] as const) {
          CASES.forEach(([type, literal, expected], i) => {
            const actual = stringifyExact(row[`c${i}`]);
            if (actual !== expected) failures.push(`${where} ${type} ${literal}: expected ${expected}, got ${actual}`);
          });
        }
        assert.deepEqual(failures, []);
      } finally {
        await stream.stop();
      }
    } finally {
      await pg.query('ALTER ROLE CURRENT_USER RESET ALL');
    }
  });
});
