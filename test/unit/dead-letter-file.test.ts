import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DeadLetterFile } from '../../src/pipeline/dead-letter-file.ts';
import { attachEventMeta, eventMeta, setRoute } from '../../src/events/event-builder.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';

const event = (id: number): ChangeEvent => ({ id: `0/1:${id}`, op: 'c', after: { id }, ts_ms: 1, transaction: null, source: { schema: 'public', table: 't' } } as unknown as ChangeEvent);

describe('DeadLetterFile', () => {
  test('lines are ids; the key and route are kept for a re-delivery; decisions survive a new instance', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'pgcdc-dl-')), 'dead.jsonl');
    const file = new DeadLetterFile(path);
    const keyed = event(1);
    attachEventMeta(keyed, { key: { id: 1 }, commitLsn: 16n, lsn: 16n, columns: [{ name: 'id', typeOid: 20, typeModifier: -1 }, { name: 'at', typeOid: 1184, typeModifier: 3 }] });
    const routed = event(2);
    setRoute(routed, { topic: 'orders', key: 'o-2', headers: { message_id: 'm2' }, value: { total: 5 } });
    file.append([{ event: keyed, reason: 'too big', stage: 'sink kafka' }, { event: routed, reason: 'refused', stage: 'transforms[0]' }]);
    file.append([{ event: event(3), reason: 'third', stage: 'x' }]);
    appendFileSync(path, '{"reason":"torn'); // a crash mid-line: never confirmed, skipped
    const listed = await file.list();
    assert.deepEqual(listed.map((e) => [e.line, e.reason, e.decision]), [[1, 'too big', undefined], [2, 'refused', undefined], [3, 'third', undefined]]);
    assert.deepEqual(eventMeta(listed[0]!.event)?.key, { id: 1 });
    assert.deepEqual(eventMeta(listed[0]!.event)?.columns, [{ name: 'id', typeOid: 20, typeModifier: -1 }, { name: 'at', typeOid: 1184, typeModifier: 3 }], 'the column types, for the Connect schema of a retry');
    assert.deepEqual(eventMeta(listed[1]!.event)?.route, { topic: 'orders', key: 'o-2', headers: { message_id: 'm2' }, value: { total: 5 } });
    assert.equal(eventMeta(listed[2]!.event), undefined);
    assert.doesNotMatch(readFileSync(path, 'utf8').split('\n')[2]!, /"meta"/, 'no meta when there is nothing to keep');

    file.decide([1, 3], 'retried');
    file.decide([2], 'discarded');
    const again = await new DeadLetterFile(path).list();
    assert.deepEqual(again.map((e) => e.decision?.action), ['retried', 'discarded', 'retried']);
  });

  test('a missing file lists nothing', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'pgcdc-dl-')), 'none.jsonl');
    const file = new DeadLetterFile(path);
    assert.deepEqual(await file.list(), []);
  });
});
