/**
 * `envelope: debezium-connect`: Kafka Connect's JSON form with Debezium's
 * schemas, type by type against a real server, checked against the shapes
 * Debezium's PostgreSQL connector documents (docs/types.md); through `tail`, and
 * for snapshot rows, whose types come from the query rather than the stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { connectRecordParts } from '../../src/format/connect-envelope.ts';
import { collectEvents } from '../support/collect.ts';
import { runCli } from '../support/cli.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

interface FieldSchema { type: string; optional: boolean; name?: string; version?: number; parameters?: Record<string, string>; items?: FieldSchema; fields?: FieldSchema[]; field?: string }

/** [column type, SQL literal, expected schema (type, name, parameters, items' type), expected payload value as JSON] */
const CASES: Array<[string, string, Partial<FieldSchema>, string]> = [
  ['boolean', 'true', { type: 'boolean' }, 'true'],
  ['smallint', '-7', { type: 'int16' }, '-7'],
  ['integer', '2147483647', { type: 'int32' }, '2147483647'],
  ['bigint', '9223372036854775807', { type: 'int64' }, '9223372036854775807'],
  ['real', '1.5', { type: 'float' }, '1.5'],
  ['double precision', '-0.25', { type: 'double' }, '-0.25'],
  ['numeric(10,2)', '3.50', { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal', parameters: { scale: '2', 'connect.decimal.precision': '10' } }, '"AV4="'],
  ['numeric(5,2)', '-1.00', { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal' }, '"nA=="'], // -100: one byte, as BigInteger.toByteArray
  ['numeric(5,0)', '128', { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal' }, '"AIA="'],
  ['numeric', '12.3400', { type: 'struct', name: 'io.debezium.data.VariableScaleDecimal' }, '{"scale":2,"value":"BNI="}'],
  ['numeric', '100', { type: 'struct', name: 'io.debezium.data.VariableScaleDecimal' }, '{"scale":0,"value":"ZA=="}'],
  ['numeric', "'NaN'", { type: 'struct', name: 'io.debezium.data.VariableScaleDecimal' }, 'null'],
  ['money', "'1234.56'", { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal', parameters: { scale: '2' } }, '"AeJA"'],
  ['text', "'héllo'", { type: 'string' }, '"héllo"'],
  ['varchar(5)', "'ab'", { type: 'string' }, '"ab"'],
  ['bytea', "'\\x00ff10'", { type: 'bytes' }, '"AP8Q"'],
  ['date', "'2024-02-29'", { type: 'int32', name: 'io.debezium.time.Date' }, '19782'],
  ['date', "'1969-12-31'", { type: 'int32', name: 'io.debezium.time.Date' }, '-1'],
  ['time', "'13:45:30.123456'", { type: 'int64', name: 'io.debezium.time.MicroTime' }, '49530123456'],
  ['time(3)', "'13:45:30.123'", { type: 'int32', name: 'io.debezium.time.Time' }, '49530123'],
  ['timestamp', "'2024-01-02 03:04:05.678901'", { type: 'int64', name: 'io.debezium.time.MicroTimestamp' }, '1704164645678901'],
  ['timestamp(3)', "'1969-12-31 23:59:59.999'", { type: 'int64', name: 'io.debezium.time.Timestamp' }, '-1'],
  ['timestamp', "'infinity'", { type: 'int64', name: 'io.debezium.time.MicroTimestamp' }, '9223372036825200000'],
  ['timestamptz', "'2024-01-02 03:04:05.5+02'", { type: 'string', name: 'io.debezium.time.ZonedTimestamp' }, '"2024-01-02T01:04:05.5Z"'],
  ['timetz', "'12:00:00+05:30'", { type: 'string', name: 'io.debezium.time.ZonedTime' }, '"06:30:00Z"'],
  ['timetz', "'01:00:00.25-03'", { type: 'string', name: 'io.debezium.time.ZonedTime' }, '"04:00:00.25Z"'],
  ['interval', "'1 year 2 months 3 days 04:05:06.5'", { type: 'int64', name: 'io.debezium.time.MicroDuration' }, '37091106500000'],
  ['interval', "'-1 day'", { type: 'int64', name: 'io.debezium.time.MicroDuration' }, '-86400000000'],
  ['json', `'{"a": 1, "a": 2}'`, { type: 'string', name: 'io.debezium.data.Json' }, '"{\\"a\\": 1, \\"a\\": 2}"'],
  ['jsonb', `'{"b": [1, 2]}'`, { type: 'string', name: 'io.debezium.data.Json' }, '"{\\"b\\":[1,2]}"'],
  ['uuid', "'298c2cc3-71bb-4d2b-b5b4-1b14006d56e6'", { type: 'string', name: 'io.debezium.data.Uuid' }, '"298c2cc3-71bb-4d2b-b5b4-1b14006d56e6"'],
  ['xml', "'<a>1</a>'", { type: 'string', name: 'io.debezium.data.Xml' }, '"<a>1</a>"'],
  ['point', "'(1,2)'", { type: 'struct', name: 'io.debezium.data.geometry.Point' }, '{"x":1,"y":2,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null}'],
  ['bit(1)', "B'1'", { type: 'boolean' }, 'true'],
  ['bit(4)', "B'1010'", { type: 'bytes', name: 'io.debezium.data.Bits', parameters: { length: '4' } }, '"Cg=="'],
  ['integer[]', "'{1,NULL,3}'", { type: 'array', items: { type: 'int32', optional: true } }, '[1,null,3]'],
  ['date[]', "'{1970-01-02}'", { type: 'array', items: { type: 'int32', optional: true, name: 'io.debezium.time.Date', version: 1 } }, '[1]'],
  ['text[]', `'{"a b",c}'`, { type: 'array', items: { type: 'string', optional: true } }, '["a b","c"]'],
  ['inet', "'10.0.0.1/8'", { type: 'string' }, '"10.0.0.1/8"'],
  ['int4range', "'[1,10)'", { type: 'string' }, '"[1,10)"'],
  ['integer', 'NULL', { type: 'int32' }, 'null'],
];

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres(latestMajor());
  const columns = CASES.map(([type], i) => `c${i} ${type}`).join(', ');
  await pg.query(`CREATE TABLE typed (id serial PRIMARY KEY, ${columns})`);
});
after(async () => { await pg?.stop(); });

const insertAll = () => pg.query(`INSERT INTO typed (${CASES.map((_, i) => `c${i}`).join(', ')}) VALUES (${CASES.map(([type, literal]) => `(${literal})::${type}`).join(', ')})`);

function checkValue(record: { schema: FieldSchema; payload: Record<string, unknown> }, text: string, where: string): string[] {
  const failures: string[] = [];
  const afterSchema = record.schema.fields!.find((f) => f.field === 'after')!;
  assert.equal(afterSchema.name, 'pgcdc.public.typed.Value');
  CASES.forEach(([type, literal, schema, expected], i) => {
    const actual = afterSchema.fields!.find((f) => f.field === `c${i}`)!;
    for (const [k, v] of Object.entries(schema)) {
      if (JSON.stringify(actual[k as keyof FieldSchema]) !== JSON.stringify(v)) failures.push(`${where} ${type} ${literal}: schema ${k} ${JSON.stringify(actual[k as keyof FieldSchema])}, expected ${JSON.stringify(v)}`);
    }
    assert.equal(actual.optional, true);
    // The payload's JSON text, cut out of the record's text: exact digits, not a double's.
    const match = new RegExp(`"c${i}":((?:[^,{}\\[\\]"]+|"(?:[^"\\\\]|\\\\.)*"|\\{[^{}]*\\}|\\[[^\\[\\]]*\\]))[,}]`).exec(text.slice(text.indexOf('"after":{')));
    if (match?.[1] !== expected) failures.push(`${where} ${type} ${literal}: payload ${match?.[1]}, expected ${expected}`);
  });
  return failures;
}

describe('envelope debezium-connect: Kafka Connect schema and payload (docs/types.md)', () => {
  test('every type, with the schema Debezium gives it, through a real pgoutput stream; key and envelope as Debezium writes them', async () => {
    const stream = await ChangeStream.open({ connection: pg.url(), slot: 'connect_types', publication: 'connect_pub', temporary: true });
    try {
      await insertAll();
      const [event] = await collectEvents(stream, 1);
      const parts = connectRecordParts(event!, 'pgcdc');
      const record = JSON.parse(parts.value) as { schema: FieldSchema; payload: Record<string, unknown> };
      assert.deepEqual(checkValue(record, parts.value, 'stream'), []);
      assert.equal(record.schema.name, 'pgcdc.public.typed.Envelope');
      assert.deepEqual(record.schema.fields!.map((f) => f.field), ['id', 'before', 'after', 'source', 'transaction', 'op', 'ts_ms']);
      assert.equal(record.schema.fields!.find((f) => f.field === 'source')!.name, 'io.debezium.connector.postgresql.Source');
      assert.equal(record.schema.fields!.find((f) => f.field === 'transaction')!.name, 'event.block');
      assert.equal(record.payload.op, 'c');
      assert.equal(record.payload.before, null);
      const source = record.payload.source as Record<string, unknown>;
      assert.equal(source.table, 'typed');
      // Every source field the payload has is in the schema, and no other.
      assert.deepEqual(Object.keys(source).sort(), record.schema.fields!.find((f) => f.field === 'source')!.fields!.map((f) => f.field).sort());
      const key = JSON.parse(parts.key!) as { schema: FieldSchema; payload: Record<string, unknown> };
      assert.deepEqual(key.schema, { type: 'struct', optional: false, name: 'pgcdc.public.typed.Key', fields: [{ type: 'int32', optional: false, field: 'id' }] });
      assert.deepEqual(key.payload, { id: 1 });
    } finally {
      await stream.stop();
    }
  });

  test('snapshot rows take their types from the query: the same schema and values', async () => {
    const stream = await ChangeStream.open({ connection: pg.url(), slot: 'connect_snapshot', publication: 'connect_pub', temporary: true, snapshot: { mode: 'initial_only' } });
    try {
      const [event] = await collectEvents(stream, 1);
      assert.equal(event!.op, 'r');
      const parts = connectRecordParts(event!, 'pgcdc');
      assert.deepEqual(checkValue(JSON.parse(parts.value) as never, parts.value, 'snapshot'), []);
    } finally {
      await stream.stop();
    }
  });

  test('tail --envelope debezium-connect prints the form; messages carry their content as bytes', async () => {
    await pg.query(`SELECT pg_create_logical_replication_slot('connect_tail', 'pgoutput')`);
    await pg.query(`UPDATE typed SET c0 = false; SELECT pg_logical_emit_message(true, 'app', 'héllo')`);
    const result = await runCli(['tail', pg.url(), '--slot', 'connect_tail', '--publication', 'connect_pub', '--envelope', 'debezium-connect', '--no-heartbeat', '--max-events', '2']);
    assert.equal(result.code, 0, result.stderr);
    const [update, message] = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { schema: FieldSchema; payload: Record<string, unknown> });
    assert.equal(update!.payload.op, 'u');
    assert.equal((update!.payload.after as Record<string, unknown>).c0, false);
    assert.equal(message!.schema.name, 'io.debezium.connector.postgresql.MessageValue');
    assert.deepEqual(message!.payload.message, { prefix: 'app', content: Buffer.from('héllo').toString('base64'), transactional: true });
    const bad = await runCli(['tail', pg.url(), '--slot', 'connect_tail', '--envelope', 'avro']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--envelope expects debezium or debezium-connect/);
  });
});
