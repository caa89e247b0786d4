import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LiveTail, MAX_PER_SECOND, matches } from '../../src/observe/live-tail.ts';
import type { OutboundRecord } from '../../src/sink/outbound-record.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';

function record(i: number, op: ChangeEvent['op'], table = 'orders', prefix?: string): OutboundRecord {
  const event = {
    id: `0/10:${i}`, op, ts_ms: 1, transaction: null,
    source: { schema: 'public', table, lsn: i },
    ...(op === 'm' ? { message: { prefix: prefix ?? 'outbox', content: '{}', transactional: true } } : { after: { id: i } }),
  } as unknown as ChangeEvent;
  return { id: event.id, topic: `pgcdc.public.${table}`, key: op === 'm' ? null : `{"id":${i}}`, headers: {}, value: JSON.stringify({ id: i }), event };
}

describe('LiveTail', () => {
  test('with nobody watching, sample() keeps nothing', () => {
    const tail = new LiveTail();
    assert.equal(tail.watching, false);
    assert.equal(tail.sample('p', [record(1, 'c')]), undefined);
  });

  test('each watcher gets what its filter matches, as JSON with the route and the exact value', () => {
    const tail = new LiveTail();
    const inserts: string[] = [];
    const messages: string[] = [];
    tail.watch({ tables: ['public.orders'], ops: ['c'] }, (e) => inserts.push(e));
    tail.watch({ prefixes: ['audit'] }, (e) => messages.push(e));
    const records = [record(1, 'c'), record(2, 'u'), record(3, 'c', 'items'), record(4, 'm', '', 'audit'), record(5, 'm', '', 'outbox')];
    const sample = tail.sample('p', records)!;
    tail.publish('p', sample);
    assert.deepEqual(inserts.map((e) => (JSON.parse(e) as { key: string }).key), ['{"id":1}']);
    const first = JSON.parse(inserts[0]!) as Record<string, unknown>;
    assert.deepEqual(first, { pipeline: 'p', id: '0/10:1', op: 'c', table: 'public.orders', lsn: 1, tsMs: 1, topic: 'pgcdc.public.orders', key: '{"id":1}', headers: {}, value: { id: 1 } });
    assert.deepEqual(messages.map((e) => (JSON.parse(e) as { table: string }).table), ['message:audit']);
  });

  test('a key search matches a substring of the key; a pipeline filter other pipelines', () => {
    assert.equal(matches({ key: '"id":4' }, record(42, 'c')), true);
    assert.equal(matches({ key: '"id":5' }, record(42, 'c')), false);
    assert.equal(matches({ key: 'x' }, record(1, 'm')), false, 'a record without a key never matches a key search');
    const tail = new LiveTail();
    const seen: string[] = [];
    tail.watch({ pipeline: 'a' }, (e) => seen.push(e));
    assert.equal(tail.sample('b', [record(1, 'c')]), undefined);
    tail.publish('a', tail.sample('a', [record(1, 'c')])!);
    assert.equal(seen.length, 1);
  });

  test('a watcher gets at most MAX_PER_SECOND events a second; the rest is counted as unshown', () => {
    const tail = new LiveTail();
    let sent = 0;
    const watcher = tail.watch({}, () => sent++);
    const batch = Array.from({ length: 5000 }, (_, i) => record(i, 'c'));
    const sample = tail.sample('p', batch)!;
    assert.equal(sample.length, MAX_PER_SECOND);
    tail.publish('p', sample);
    assert.equal(sent, MAX_PER_SECOND);
    assert.equal(watcher.unshown, 5000 - MAX_PER_SECOND);
    assert.equal(tail.sample('p', batch), undefined, 'the budget of this second is spent');
  });

  test('a closed watcher is sent nothing, even from a sample taken before it closed', () => {
    const tail = new LiveTail();
    let sent = 0;
    const watcher = tail.watch({}, () => sent++);
    const sample = tail.sample('p', [record(1, 'c')])!;
    watcher.close();
    tail.publish('p', sample);
    assert.equal(sent, 0);
    assert.equal(tail.watching, false);
  });
});
