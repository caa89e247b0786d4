import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tallyAccepted, tallyRecords } from '../../src/observe/metrics.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';

type Record_ = { value: string; event: ChangeEvent };

/** The tally's meaning, written plainly: a row per operation and `schema.table` (or `message:prefix`). */
function reference(records: Record_[]) {
  const rows = new Map<string, { table: string; op: string; records: number; bytes: number }>();
  let newest = 0;
  for (const { value, event } of records) {
    if (event.source.ts_ms !== null && event.op !== 'r') newest = Math.max(newest, event.source.ts_ms);
    const table = event.op === 'm' ? `message:${event.message!.prefix}` : `${event.source.schema}.${event.source.table}`;
    const row = rows.get(`${event.op}\u0000${table}`) ?? { table, op: event.op, records: 0, bytes: 0 };
    row.records++;
    row.bytes += value.length;
    rows.set(`${event.op}\u0000${table}`, row);
  }
  return { rows, newestCommitMs: newest };
}

function event(op: string, schema: string, table: string, ts: number | null, prefix?: string): ChangeEvent {
  return { op, source: { schema, table, ts_ms: ts }, message: prefix === undefined ? undefined : { prefix } } as unknown as ChangeEvent;
}

test('tally of a batch: per operation and table, messages per prefix, interleaved in any order, as the plain reading counts them', () => {
  const kinds: Array<[string, string, string, string?]> = [
    ['c', 'public', 'orders'], ['u', 'public', 'orders'], ['d', 'public', 'orders'], ['c', 'shop', 'orders'], ['c', 'public', 'items'],
    ['r', 'public', 'orders'], ['m', '', '', 'outbox'], ['m', '', '', 'audit'], ['t', 'public', 'items'],
    // Labels that collide ("a.b" + "c" and "a" + "b.c"): one row, as the label says.
    ['c', 'a.b', 'c'], ['c', 'a', 'b.c'],
  ];
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 50; round++) {
    const records: Record_[] = [];
    const length = Math.floor(random() * 300);
    for (let i = 0; i < length; i++) {
      // Runs of one kind, as batches mostly are, broken at random.
      const [op, schema, table, prefix] = kinds[random() < 0.7 && i > 0 ? kinds.findIndex((k) => k[0] === records[i - 1]!.event.op) : Math.floor(random() * kinds.length)]!;
      records.push({ value: 'x'.repeat(Math.floor(random() * 50)), event: event(op, schema, table, random() < 0.1 ? null : Math.floor(random() * 1e6), prefix) });
    }
    const got = tallyRecords(records);
    const want = reference(records);
    assert.deepEqual(new Map([...got.rows].sort()), new Map([...want.rows].sort()), `round ${round}`);
    assert.equal(got.newestCommitMs, want.newestCommitMs);
    // Refused records (dead letters) are not counted.
    const refused = records.filter((_, i) => i % 3 === 0).map((record) => ({ record }));
    assert.deepEqual(new Map([...tallyAccepted(records, refused).rows].sort()), new Map([...reference(records.filter((_, i) => i % 3 !== 0)).rows].sort()));
  }
});

test('tally of a batch spanning many tables, each event of another table', () => {
  const records = Array.from({ length: 3000 }, (_, i) => ({ value: '{}', event: event('c', 'public', `t${i % 1500}`, i) }));
  const got = tallyRecords(records);
  assert.equal(got.rows.size, 1500);
  assert.deepEqual(got.rows.get('c\u0000public.t7'), { table: 'public.t7', op: 'c', records: 2, bytes: 4 });
  assert.equal(got.newestCommitMs, 2999);
});
