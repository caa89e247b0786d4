/**
 * `json` column values keep their exact text wherever pgcdc serializes them
 * (records for sinks, dead letters, the spill file), while transforms see the
 * parsed value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsonText, memberText, parseJsonb, parseJsonExact, parseJsonExactNotingIndexKeys, parseRoundTrip, stringifyExact, stringifyRoundTrip, type JsonValue } from '../../src/core/json.ts';
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

  test('many json values among strings full of backslashes, escaped quotes and look-alike text: each in its place, whatever the order', () => {
    // Twelve values: indexes of two digits; strings with every escape JSON.stringify writes
    // before, between and after them, and text shaped like a placeholder without its NUL.
    const texts = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? `{"i": ${i}, "s": "a\\\\b\\"c"}` : i % 3 === 1 ? `[${i}, "\\\\"]` : `"x${i}\\n"`));
    const values = texts.map((t) => jsonText(t));
    const tricky = ['\\', '\\\\', '"', '\\"', '\n\t\u0001', 'u0000pgcdc-json-', '\\u0000pgcdc-json-x:1', 'ends with \\'];
    const doc = { head: tricky, nested: { list: [values[11], tricky[0], values[3]], deep: [[values[0]]] }, rest: values.slice(1, 11).reverse(), tail: tricky };
    const expectedJson = (v: unknown): string => {
      const i = values.indexOf(v as JsonValue);
      if (i >= 0) return texts[i]!;
      if (Array.isArray(v)) return `[${v.map(expectedJson).join(',')}]`;
      if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${expectedJson(x)}`).join(',')}}`;
      return JSON.stringify(v);
    };
    assert.equal(stringifyExact(doc), expectedJson(doc));
  });

  test('a value JSON.stringify refuses (a BigInt) throws, and leaves nothing behind for the next text', () => {
    const body = jsonText('{"k": 1, "k": 2}');
    assert.throws(() => stringifyExact({ body, n: 1n }), TypeError);
    const other = jsonText('[ 3 ]');
    assert.equal(stringifyExact({ other, body }), '{"other":[ 3 ],"body":{"k": 1, "k": 2}}');
  });

  test('a round trip through the spill form gives back values with the same text', () => {
    const row: Record<string, JsonValue> = { body: jsonText('{"dup":1,"dup":2}'), list: [jsonText('[1e400]')], text: 'x' };
    const back = parseRoundTrip(stringifyRoundTrip(row)) as Record<string, JsonValue>;
    assert.equal(stringifyExact(back), '{"body":{"dup":1,"dup":2},"list":[[1e400]],"text":"x"}');
    assert.equal((back.body as { dup: number }).dup, 2);
  });
});

describe('jsonb values: numbers exact, fast when they can be (parseJsonExact)', () => {
  /**
   * The reference, token by token: every number a double would write
   * differently keeps its text (`1.50`, `1e0`, `-0`, 16+ digits); any other is
   * the double's.
   */
  const exactly = (text: string) => stringifyExact(JSON.parse(text, (_k, v: unknown, context?: { source?: string }) => (
    typeof v === 'number' && context?.source !== undefined && String(v) !== context.source
      ? (JSON as unknown as { rawJSON(t: string): JsonValue }).rawJSON(context.source) : v)) as JsonValue);

  test('every number form, in every position a number can take, serializes as the exact reference does', () => {
    const numbers = ['0', '-0', '-0.0', '-0.000', '1', '-1', '1.5', '1.50', '123456789012345', '1234567890123456', '12345678901234567890',
      '-12345678901234567890', '0.1234567890123456', '0.12345678901234567', '1e5', '1E5', '1e-5', '1.5e+300', '1e400', '-1E-400', '9007199254740993', '1e0', '-0e0', '2.50e2',
      '31.181986179340492', '-4287109598.1251272', '1234567.891234567', '0.000123456789012345678', '123456789012345.6', '12345678901234.56',
      '0.0000001', '-0.00000012300', '0.000001', '100.000', '0.0', '1.05', '10'];
    const spaces = ['', ' ', '\n  ', '\t'];
    for (const n of numbers) {
      for (const ws of spaces) {
        for (const text of [`${ws}${n}`, `[${ws}${n}]`, `[1,${ws}${n}]`, `{"k":${ws}${n}}`, `{"a": "x", "k":${ws}${n}, "z": [true,${ws}${n}]}`]) {
          assert.equal(stringifyExact(parseJsonExact(text)), exactly(text), text);
        }
      }
    }
  });

  test('no number changes value: random numbers of 1 to 25 digits, the point anywhere, signs, leading zeros and exponents', () => {
    let seed = 17;
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const digits = (n: number) => Array.from({ length: n }, (_, i) => String(i === 0 ? 1 + random(9) : random(10))).join('');
    for (let i = 0; i < 20_000; i++) {
      const d = digits(1 + random(25));
      const at = random(d.length + 1);
      let text = at === d.length ? d : `${at === 0 ? '0' : d.slice(0, at)}.${at === 0 ? '0'.repeat(random(4)) : ''}${d.slice(at)}`;
      if (random(2)) text = `-${text}`;
      if (random(5) === 0) text += `e${random(2) ? '-' : '+'}${random(40)}`;
      const out = stringifyExact(parseJsonExact(`{"v": [${text}]}`)).slice('{"v":['.length, -2);
      assert.equal(decimalValue(out), decimalValue(text), `${text} came out as ${out}`);
    }
  });

  test('jsonb as PostgreSQL writes it: every number comes out as PostgreSQL wrote it, alone or beside one that takes the exact path, and digits in strings change nothing', () => {
    let seed = 29;
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const someDigits = (n: number) => Array.from({ length: n }, () => String(random(10))).join('');
    // numeric's output form: no exponent, no negative zero, no leading zeros; the
    // scale kept (trailing zeros), tiny values written out in full
    const numericText = () => {
      const whole = random(3) === 0 ? '0' : String(1 + random(9)) + someDigits(random(20));
      const fraction = random(3) === 0 ? '' : '0'.repeat(random(3) === 0 ? random(12) : 0) + someDigits(1 + random(12));
      const text = fraction === '' ? whole : `${whole}.${fraction}`;
      return /^0(\.0*)?$/.test(text) || random(2) === 0 ? text : `-${text}`;
    };
    for (let i = 0; i < 20_000; i++) {
      const text = numericText();
      const beside = random(2) === 0 ? '1' : '12345678901234567890'; // the second forces the exact path for the document
      const doc = [`${text}`, `[${beside}, ${text}]`, `{"a": "x", "k": ${text}, "z": ${beside}}`][random(3)]!;
      const expected = doc.startsWith('[') ? `[${beside},${text}]` : doc.startsWith('{') ? `{"a":"x","k":${text},"z":${beside}}` : text;
      assert.equal(stringifyExact(parseJsonExact(doc)), expected, doc);
    }
    for (const text of ['9007199254740993', '-9007199254740993', '900719925474099.3', '0.1000000000000001', '12345678901234567890', '1' + '0'.repeat(400),
      '1.50', '0.0', '100.000', '0.0000001', '0.000001', '-0.00000012300']) {
      assert.equal(stringifyExact(parseJsonExact(`[${text}]`)), `[${text}]`, text);
    }
    for (const doc of ['{"h": "3e5a9c1234567890123456789abc"}', '{"ip": "10.0.0.1.2.3.4.5.6.7.8", "v": [1, 2.5]}', '{"phone": "00441234567890123"}', '{"v": "1.0"}', '[]', '"text"', 'null']) {
      assert.deepEqual(parseJsonExact(doc), JSON.parse(doc), doc);
    }
  });

  test('jsonb strings with escaped quotes and backslashes beside numbers: a string\'s end is found, so no number is skipped or taken from a string', () => {
    let seed = 41;
    // the high bits: the low bits of this generator repeat every few calls
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return Math.floor(seed / 65536) % n; };
    // no digits in the strings: a digit there only sends the document down the
    // exact path, which would hide a string end found in the wrong place
    const alphabet = ['"', '"', '\\', '\\', 'a', ' ', ',', ':', '[', '{', '}', 'é', '\n'];
    const someString = () => Array.from({ length: random(8) }, () => alphabet[random(alphabet.length)]).join('');
    const numbers = ['1', '1.5', '1.50', '0.0000001', '12345678901234567', '-2.10', '100', '1e5', '-0', '-0.0', '2.5E-3', '-1', '0'];
    for (let i = 0; i < 5_000; i++) {
      const pairs: [string, string][] = [];
      // keys made unique (a repeated key would drop the number it follows)
      for (let k = random(4) + 1; k > 0; k--) pairs.push([JSON.stringify(`${k}${someString()}`), numbers[random(numbers.length)]!], [JSON.stringify(`${k}${someString()}-`), JSON.stringify(someString())]);
      const doc = random(2) === 0 ? `{${pairs.map(([key, value]) => `${key}: ${value}`).join(', ')}}` : `[${pairs.flat().join(', ')}]`;
      assert.equal(stringifyExact(parseJsonExact(doc)), exactly(doc), doc);
    }
  });

  test('digits and exponents inside strings (hex digests, dates, version strings) are not numbers: the fast path, same output', () => {
    for (const text of ['{"h": "3e5a9c1234567890123456789abc"}', '{"d": "2024-01-02", "z": "-0"}', '["1e400", "-0.0", ":1e5"]', '{"note": "a,12345678901234567"}']) {
      assert.equal(stringifyExact(parseJsonExact(text)), exactly(text), text);
      assert.deepEqual(parseJsonExact(text), JSON.parse(text));
    }
  });
});

describe('jsonb values keep PostgreSQL\'s key order (parseJsonb)', () => {
  test('a document with an array-index key keeps its text, compacted, frozen; strings are left as they are', () => {
    const cases: Array<[string, string]> = [
      ['{"a": 1, "10": 2}', '{"a":1,"10":2}'],
      ['{"note": "x, y: z", "0": [1, 2.50]}', '{"note":"x, y: z","0":[1,2.50]}'],
      ['[{"k": "\\"quoted\\": 1", "7": {}}]', '[{"k":"\\"quoted\\": 1","7":{}}]'],
      ['{"b": {"c": 1, "4294967294": true}}', '{"b":{"c":1,"4294967294":true}}'],
    ];
    for (const [text, expected] of cases) {
      const value = parseJsonb(text);
      assert.equal(stringifyExact(value), expected, text);
      assert.equal(Object.isFrozen(value), true, text);
      assert.equal(stringifyExact({ after: { doc: value } }), `{"after":{"doc":${expected}}}`);
      // What transforms see is the parsed value.
      assert.deepEqual(JSON.parse(JSON.stringify(value)), JSON.parse(text));
    }
  });

  test('without such a key (none, "01", 4294967295, a digit string that is a value) it is parsed as parseJsonExact parses it', () => {
    for (const text of ['{"a": 1, "b": [1.50, 31.181986179340492]}', '{"a": 1, "01": 2}', '{"a": 1, "4294967295": 2}', '{"a": "10", "b": ["10"]}', '"10"', '[]', '12']) {
      const value = parseJsonb(text);
      assert.equal(stringifyExact(value), stringifyExact(parseJsonExact(text)), text);
      assert.equal(Object.isFrozen(value) && typeof value === 'object' && value !== null && Object.keys(value).length > 0, false, text);
    }
    // The key order a JavaScript object would have given the first case above: why the text is kept.
    assert.equal(stringifyExact(parseJsonExact('{"a": 1, "10": 2}')), '{"10":2,"a":1}');
  });
});

describe('a member of a JSON object as its text (memberText), array-index keys (parseJsonExactNotingIndexKeys)', () => {
  test('the member is found at the top level only, whatever its kind and the spacing; the last of duplicates; undefined when absent', () => {
    const text = '{ "x": {"payload": 0}, "s": "\\"payload\\": 1", "payload" : { "a" : [1, {"b": "}, ]"}] , "c": null } , "n": 1 }';
    assert.equal(memberText(text, 'payload'), '{"a":[1,{"b":"}, ]"}],"c":null}');
    assert.equal(memberText('{"payload": [1, 2] }', 'payload'), '[1,2]');
    assert.equal(memberText('{"payload": "a, b"}', 'payload'), '"a, b"');
    assert.equal(memberText('{"payload": 12.50, "z": 1}', 'payload'), '12.50');
    assert.equal(memberText('{"payload": true}', 'payload'), 'true');
    assert.equal(memberText('{"payload": 1, "payload": {"k": 2}}', 'payload'), '{"k":2}');
    assert.equal(memberText('{"other": {"payload": 1}}', 'payload'), undefined);
  });

  test('keys, not values, with spacing before the colon', () => {
    const indexKey = (text: string) => parseJsonExactNotingIndexKeys(text).indexKey;
    assert.equal(indexKey('{"a": "10"}'), false);
    assert.equal(indexKey('{"a": {"10" : 1}}'), true);
    assert.equal(indexKey('{"a": ["0", {"0"\n:1}]}'), true);
    assert.equal(indexKey('{"00": 1, "-1": 2, "1.5": 3, "4294967295": 4}'), false);
  });
});

/** A JSON number's exact decimal value, canonical: sign, significant digits, exponent (`-1.50e2` → `-15e1`). */
function decimalValue(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  assert.ok(match, `not a JSON number: ${text}`);
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  let all = whole! + fraction;
  let power = Number(exponent) - fraction.length;
  all = all.replace(/^0+/, '');
  if (all === '') return '0';
  const trailing = /0*$/.exec(all)![0].length;
  all = all.slice(0, all.length - trailing);
  power += trailing;
  return `${sign}${all}e${power}`;
}
