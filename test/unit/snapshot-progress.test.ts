import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfirmInOrder } from '../../src/snapshot/confirm-in-order.ts';
import { SnapshotStateFile } from '../../src/snapshot/snapshot-state.ts';

test('ConfirmInOrder: a later confirm waits for every earlier one, in every order of three confirms', () => {
  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  for (const order of orders) {
    const ran: number[] = [];
    const inOrder = new ConfirmInOrder();
    // The middle batch has no callback of its own (a slice that is not its chunk's last).
    const confirms = [inOrder.add(() => ran.push(0)), inOrder.add(undefined), inOrder.add(() => ran.push(2))];
    const seen: number[][] = [];
    for (const i of order) {
      confirms[i]!();
      seen.push([...ran]);
    }
    assert.deepEqual(ran, [0, 2], `order ${order}`);
    // Callback 2 never runs before confirm 1 (the one without a callback) came.
    const firstWithTwo = seen.findIndex((r) => r.includes(2));
    assert.ok(order.slice(0, firstWithTwo + 1).includes(1) && order.slice(0, firstWithTwo + 1).includes(0), `order ${order}: ${JSON.stringify(seen)}`);
  }
});

test('ConfirmInOrder: a confirm called twice runs its callback once', () => {
  let runs = 0;
  const inOrder = new ConfirmInOrder();
  const confirm = inOrder.add(() => runs++);
  confirm();
  confirm();
  assert.equal(runs, 1);
});

test('SnapshotStateFile.saveSoon: at most one write per interval, the latest state by the timer, and flush writes what is unsaved', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-state-'));
  const file = new SnapshotStateFile<{ n: number }>(join(dir, 's.json'));
  const read = () => (existsSync(file.path) ? JSON.parse(readFileSync(file.path, 'utf8')).n as number : undefined);
  file.saveSoon({ n: 1 }, 200);
  assert.equal(read(), 1, 'the first save writes at once');
  file.saveSoon({ n: 2 }, 200);
  file.saveSoon({ n: 3 }, 200);
  assert.equal(read(), 1, 'within the interval nothing more is written');
  await new Promise((resolve) => setTimeout(resolve, 350));
  assert.equal(read(), 3, 'the timer writes the latest state');
  await new Promise((resolve) => setTimeout(resolve, 250));
  file.saveSoon({ n: 4 }, 200);
  file.saveSoon({ n: 5 }, 200);
  assert.equal(read(), 4, 'the interval had passed: written at once');
  file.flush();
  assert.equal(read(), 5, 'flush writes what saveSoon held back');
  file.flush();
  assert.equal(read(), 5);
  file.saveSoon({ n: 6 }, 10_000);
  file.write({ n: 7 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  file.flush();
  assert.equal(read(), 7, 'a direct write (the snapshot is done) drops the held-back state');
});

test('SnapshotStateFile.saveSoon: a timed write that fails does not escape its timer; flush reports it, and a later save writes the progress', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-state-'));
  const folder = join(dir, 'state');
  const file = new SnapshotStateFile<{ n: number }>(join(folder, 's.json'));
  file.saveSoon({ n: 1 }, 100);
  // Its folder becomes a file: every write fails from here (as with a full or read-only disk).
  rmSync(folder, { recursive: true });
  writeFileSync(folder, '');
  file.saveSoon({ n: 2 }, 100);
  await new Promise((resolve) => setTimeout(resolve, 250)); // the timer's write fails; the process goes on
  assert.throws(() => file.flush(), /ENOTDIR|EEXIST/, 'the failure is reported where errors are handled');
  rmSync(folder);
  file.saveSoon({ n: 3 }, 100);
  assert.equal(JSON.parse(readFileSync(file.path, 'utf8')).n, 3, 'written at once: the failed write did not count as one');
});
