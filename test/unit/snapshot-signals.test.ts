/** Signal messages and the `pgcdc snapshot` command line: what is accepted, and the one-line errors otherwise. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSignal } from '../../src/snapshot/snapshot-signal.ts';
import { signalFor } from '../../src/cli/commands/snapshot.ts';
import { incrementalStateFileFor } from '../../src/snapshot/snapshot-state.ts';

describe('pgcdc.signal messages', () => {
  test('the four signal types, with their optional fields', () => {
    assert.deepEqual(parseSignal('{"type":"execute-snapshot","tables":["public.t"]}'), { type: 'execute-snapshot', tables: ['public.t'] });
    assert.deepEqual(parseSignal('{"type":"execute-snapshot","tables":["a","s.b"],"where":"id > 10","slot":"shop"}'), { type: 'execute-snapshot', tables: ['a', 's.b'], where: 'id > 10', slot: 'shop' });
    assert.deepEqual(parseSignal('{"type":"execute-snapshot","tables":["t"],"where":"  "}'), { type: 'execute-snapshot', tables: ['t'] });
    assert.deepEqual(parseSignal('{"type":"stop-snapshot"}'), { type: 'stop-snapshot' });
    assert.deepEqual(parseSignal('{"type":"stop-snapshot","tables":["t"]}'), { type: 'stop-snapshot', tables: ['t'] });
    assert.deepEqual(parseSignal('{"type":"pause-snapshot","slot":"s"}'), { type: 'pause-snapshot', slot: 's' });
    assert.deepEqual(parseSignal('{"type":"resume-snapshot"}'), { type: 'resume-snapshot' });
  });

  test('malformed signals are PGCDC_BAD_SIGNAL with what was expected', () => {
    const rejects = (content: string, message: RegExp) => assert.throws(() => parseSignal(content), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'PGCDC_BAD_SIGNAL');
      assert.match(error.message, message);
      return true;
    });
    rejects('not json', /signal is not JSON: not json/);
    rejects('{"type":"execute-snapshot"}', /execute-snapshot needs "tables": \["schema.table", \.\.\.\]/);
    rejects('{"type":"execute-snapshot","tables":[]}', /needs "tables"/);
    rejects('{"type":"execute-snapshot","tables":[1]}', /needs "tables"/);
    rejects('{"type":"execute-snapshot","tables":["t"],"where":5}', /"where" must be an SQL condition as a string/);
    rejects('{"type":"snapshot"}', /unknown signal type "snapshot"; expected execute-snapshot, stop-snapshot, pause-snapshot or resume-snapshot/);
    rejects('null', /a signal is a JSON object/);
    rejects('{}', /unknown signal type undefined/);
  });
});

describe('pgcdc snapshot arguments', () => {
  test('each option combination becomes its signal', () => {
    assert.deepEqual(signalFor({ table: ['public.t'] }), { type: 'execute-snapshot', tables: ['public.t'] });
    assert.deepEqual(signalFor({ table: ['t', 'u'], where: "k = 'x'", slot: 's' }), { type: 'execute-snapshot', tables: ['t', 'u'], where: "k = 'x'", slot: 's' });
    assert.deepEqual(signalFor({ table: [], stop: true }), { type: 'stop-snapshot' });
    assert.deepEqual(signalFor({ table: ['t'], stop: true }), { type: 'stop-snapshot', tables: ['t'] });
    assert.deepEqual(signalFor({ table: [], pause: true, slot: 's' }), { type: 'pause-snapshot', slot: 's' });
    assert.deepEqual(signalFor({ table: [], resume: true }), { type: 'resume-snapshot' });
  });

  test('usage mistakes', () => {
    assert.throws(() => signalFor({ table: [] }), /name the tables to snapshot: --table schema\.table/);
    assert.throws(() => signalFor({ table: [], pause: true, resume: true }), /choose one of --stop, --pause, --resume/);
  });

  test('the incremental state file sits beside the initial one', () => {
    assert.equal(incrementalStateFileFor('.pgcdc/shop.snapshot.json'), '.pgcdc/shop.incremental.json');
    assert.equal(incrementalStateFileFor('/var/lib/pgcdc/state.json'), '/var/lib/pgcdc/state.incremental.json');
    assert.equal(incrementalStateFileFor('state'), 'state.incremental.json');
  });
});
