/**
 * `json` column values keep their exact text wherever pgcdc serializes them
 * (records for sinks, dead letters, the spill file), while transforms see the
 * parsed value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsonText, parseRoundTrip, stringifyExact, stringifyRoundTrip, type JsonValue } from '../../src/core/json.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { DEBEZIUM_TOPICS, toRecord } from '../../src/sink/outbound-record.ts';

const TEXTS = [
  '{"dup":1,"dup":2}',
  '[1e400, -0, 1.50, 12345678901234567890]',
  '{"a" : {"b":[ ]} ,"a":null}',
  '"caf\\u00e9"',
  '"\\ud83d\\ude00 \\/"',
  '-1E-400',
  '0',
  'false',
  '{}',
];

describe('json values keep their text (core/json.ts)', () => {
  test('every kind of json text serializes verbatim, alone and inside an event record', () => {
    for (const text of TEXTS) {
      const value = jsonText(`  ${text}\n`);
      assert.equal(stringifyExact(value), text);
      const event = { id: '0/1:1', op: 'c', before: null, after: { id: 1, body: value, other: { x: 1 } }, source: {}, ts_ms: 0, transaction: null } as unknown as ChangeEvent;
      const record = toRecord(event, DEBEZIUM_TOPICS);
      assert.ok(record.value.includes(`"body":${text},"other":{"x":1}`), record.value);
    }
  });

  test('transforms see the parsed value, read-only; a copy or a plain JSON.stringify is the parsed value', () => {
    const value = jsonText('{"dup":1,"dup":2,"n":[1]}') as { dup: number; n: number[] };
    assert.equal(value.dup, 2);
    assert.deepEqual(Object.keys(value), ['dup', 'n']);
    assert.throws(() => { value.n.push(2); }, TypeError);
    assert.equal(JSON.stringify(value), '{"dup":2,"n":[1]}');
    assert.equal(stringifyExact({ ...value, extra: true }), '{"dup":2,"n":[1],"extra":true}');
  });

  test('two json values in one document, and none: each in its place', () => {
    const a = jsonText('{"k":1,"k":2}');
    const b = jsonText('[ 1 ]');
    assert.equal(stringifyExact({ a, list: [b, a], s: 'pgcdc-json' }), '{"a":{"k":1,"k":2},"list":[[ 1 ],{"k":1,"k":2}],"s":"pgcdc-json"}');
    assert.equal(stringifyExact({ plain: [1, 'x'] }), '{"plain":[1,"x"]}');
  });

  test('a round trip through the spill form gives back values with the same text', () => {
    const row: Record<string, JsonValue> = { body: jsonText('{"dup":1,"dup":2}'), list: [jsonText('[1e400]')], text: 'x' };
    const back = parseRoundTrip(stringifyRoundTrip(row)) as Record<string, JsonValue>;
    assert.equal(stringifyExact(back), '{"body":{"dup":1,"dup":2},"list":[[1e400]],"text":"x"}');
    assert.equal((back.body as { dup: number }).dup, 2);
  });
});
