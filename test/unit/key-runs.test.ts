import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyRuns, keysOverlap } from '../../src/sink/key-runs.ts';

/** The indexes at which a new run starts, for records given as [topic, key]. */
function cuts(records: Array<[string, string | null]>): number[] {
  const runs = new KeyRuns();
  return records.flatMap(([topic, key], i) => (runs.add(topic, key) ? [i] : []));
}

test('a run ends where a row repeats, and only there', () => {
  assert.deepEqual(cuts([['t', '1'], ['t', '2'], ['t', '3']]), []);
  assert.deepEqual(cuts([['t', '1'], ['t', '2'], ['t', '1'], ['t', '3'], ['t', '2'], ['t', '2']]), [2, 5]);
});

test('the same key in two topics is two rows; records without a key are never held back', () => {
  assert.deepEqual(cuts([['a', '1'], ['b', '1'], ['ab', ''], ['a', 'b']]), []);
  assert.deepEqual(cuts([['t', null], ['t', null], ['t', '1'], ['t', null]]), []);
});

test('first and last run keys: what a following write is compared with', () => {
  const runs = new KeyRuns();
  for (const key of ['1', '2', '1', '3']) runs.add('t', key);
  const other = new KeyRuns();
  other.add('t', '3');
  assert.equal(keysOverlap(runs.lastKeys, other.lastKeys), true);
  assert.equal(keysOverlap(runs.firstKeys, other.lastKeys), false);
  assert.equal(runs.firstKeys.size, 2);
  assert.equal(runs.lastKeys.size, 2);
  const single = new KeyRuns();
  single.add('t', '9');
  assert.equal(single.firstKeys, single.lastKeys);
});
