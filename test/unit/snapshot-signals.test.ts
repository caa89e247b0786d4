/** Signal messages and the `pgcdc snapshot` command line: what is accepted, and the one-line errors otherwise. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSignal } from '../../src/snapshot/snapshot-signal.ts';
import { signalFor } from '../../src/cli/commands/snapshot.ts';
import { incrementalStateFileFor } from '../../src/snapshot/snapshot-state.ts';
import { incrementalChunkBatches } from '../../src/engine/incremental-snapshot-for.ts';
import type { ChunkEvents } from '../../src/snapshot/incremental-snapshot.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { lsn } from '../../src/core/lsn.ts';
import type { TransformChain } from '../../src/transform/transform-chain.ts';

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

describe('an incremental chunk at its high watermark', () => {
  // Events stand-ins: the slicing and the confirms are what is tested, not the events.
  const fakeEvents = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ id: String(from + i) }) as unknown as ChangeEvent);

  test('is handed on in slices of 250 rows, the watermark position on the last only, its progress saved once every slice is confirmed', () => {
    const built: Array<[number, number]> = [];
    let saved = 0;
    const chunk: ChunkEvents = { rows: 600, build: (from, to) => { built.push([from, to]); return fakeEvents(from, to); }, onConfirmed: () => { saved++; } };
    // The transforms drop every event of the last slice: its batch is confirmed at once, before the others.
    const dropLast: TransformChain = (events) => ({ events: events.filter((e) => Number(e.id) < 500), deadLetters: [] });
    const confirms: Array<() => void> = [];
    const positions: Array<bigint | undefined> = [];
    const batches = [...incrementalChunkBatches(chunk, lsn(77n), dropLast, (events, deadLetters, endLsn, onConfirmed) => {
      positions.push(endLsn);
      if (events.length === 0) { onConfirmed(); return undefined; }
      confirms.push(onConfirmed);
      return { events, deadLetters, endLsn, confirm: onConfirmed };
    })];
    assert.deepEqual(built, [[0, 250], [250, 500], [500, 600]]);
    assert.deepEqual(positions, [undefined, undefined, 77n]);
    assert.deepEqual(batches.map((b) => b.events.length), [250, 250]);
    assert.equal(saved, 0, 'the emptied last slice, confirmed first, does not save progress past the rows still in flight');
    confirms[1]!();
    assert.equal(saved, 0);
    confirms[0]!();
    assert.equal(saved, 1, 'saved once all three are confirmed');
  });

  test('of no rows (all changed since the low watermark, or an empty table) is one empty slice that saves progress', () => {
    let saved = 0;
    const chunk: ChunkEvents = { rows: 0, build: (from, to) => fakeEvents(from, to), onConfirmed: () => { saved++; } };
    const passThrough: TransformChain = (events) => ({ events, deadLetters: [] });
    const batches = [...incrementalChunkBatches(chunk, lsn(5n), passThrough, (_events, _dead, endLsn, onConfirmed) => { assert.equal(endLsn, 5n); onConfirmed(); return undefined; })];
    assert.equal(batches.length, 0);
    assert.equal(saved, 1);
  });
});
