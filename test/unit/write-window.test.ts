/** The write window's order rules (pipeline/write-window.ts), without a network: writes are promises the test settles. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WriteWindow } from '../../src/pipeline/write-window.ts';

interface Deferred { resolve(refused: string[]): void; reject(error: Error): void }

/** A window whose writes wait until the test settles them; every call is logged in order. */
function harness(depth: number, options: { deliverFails?: number } = {}) {
  const log: string[] = [];
  const pending = new Map<string, Deferred>();
  let deliverFailures = options.deliverFails ?? 0;
  const window = new WriteWindow<string, string[]>(depth, {
    write: (group, follows) => {
      log.push(`write ${group}${follows ? ' (follows)' : ''}`);
      return new Promise<string[]>((resolve, reject) => pending.set(group, { resolve, reject }));
    },
    deliver: async (group, failure) => {
      log.push(`deliver ${group}${failure === undefined ? '' : ` after ${(failure as Error).message}`}`);
      // Stands for retries with backoff until the sink confirms.
      while (deliverFailures > 0) { deliverFailures--; await new Promise((r) => setImmediate(r)); }
      return [`${group}:redelivered`];
    },
    confirm: (group, refused) => { log.push(`confirm ${group} [${refused.join(',')}]`); },
  });
  const settle = (group: string, outcome: string[] | Error) => {
    const d = pending.get(group)!;
    if (outcome instanceof Error) d.reject(outcome); else d.resolve(outcome);
  };
  return { window, log, settle };
}

describe('write window', () => {
  test('writes start in order, the later ones marked as following; groups are confirmed in order even when a later write finishes first', async () => {
    const { window, log, settle } = harness(2);
    window.start('g1');
    window.start('g2');
    assert.equal(window.canStart, false, 'the window is full');
    settle('g2', []);
    settle('g1', ['x']);
    await window.settleOldest();
    await window.settleOldest();
    assert.deepEqual(log, ['write g1', 'write g2 (follows)', 'confirm g1 [x]', 'confirm g2 []']);
    assert.equal(window.size, 0);
  });

  test('no new write after a failed one, even with room in the window', async () => {
    const { window, settle } = harness(3);
    window.start('g1');
    settle('g1', new Error('broker down'));
    await window.oldestSettled();
    assert.equal(window.size, 1);
    assert.equal(window.canStart, false);
  });

  test('a failed write is delivered again before anything after it; a later failed one after it; a later successful one is confirmed as it is', async () => {
    const { window, log, settle } = harness(3, { deliverFails: 2 });
    window.start('g1');
    window.start('g2');
    window.start('g3');
    settle('g3', new Error('cut'));
    settle('g2', ['r2']);
    settle('g1', new Error('full'));
    await window.settleOldest();
    assert.deepEqual(log, [
      'write g1', 'write g2 (follows)', 'write g3 (follows)',
      'deliver g1 after full', 'confirm g1 [g1:redelivered]',
      'confirm g2 [r2]',
      'deliver g3', 'confirm g3 [g3:redelivered]',
    ]);
    assert.equal(window.size, 0);
    assert.equal(window.canStart, true);
  });

  test('the settle waits for every later write before redelivering (a retry never races a write still out)', async () => {
    const { window, log, settle } = harness(2);
    window.start('g1');
    window.start('g2');
    settle('g1', new Error('refused'));
    const settling = window.settleOldest();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['write g1', 'write g2 (follows)'], 'nothing redelivered while g2 is out');
    settle('g2', []);
    await settling;
    assert.deepEqual(log.slice(2), ['deliver g1 after refused', 'confirm g1 [g1:redelivered]', 'confirm g2 []']);
  });

  test('abandon lets writes finish and confirms nothing (their groups are read again from the slot)', async () => {
    const { window, log, settle } = harness(2);
    window.start('g1');
    window.start('g2');
    const abandoning = window.abandon();
    settle('g1', []);
    settle('g2', new Error('late'));
    await abandoning;
    assert.deepEqual(log, ['write g1', 'write g2 (follows)']);
    assert.equal(window.size, 0);
  });
});
