import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkSizer, FIRST_CHUNK_ROWS } from '../../src/snapshot/chunk-sizer.ts';
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

test('ChunkSizer: a table\'s first chunk is small; then rows per chunk follow its width and the readers, within chunkSize and never below the floor', () => {
  const rows = (count: number, width: number) => Array.from({ length: count }, () => ['x'.repeat(width - 1), '1', null]);
  const budget = 768 * 1024;
  // 1 reader: 3 chunks in flight; 4 readers: 6.
  const one = new ChunkSizer(2_000, 3, budget);
  assert.equal(one.rowsFor('public.a'), FIRST_CHUNK_ROWS);
  one.observe('public.a', rows(100, 400));
  assert.equal(one.rowsFor('public.a'), Math.floor(budget / 3 / 400));
  assert.equal(one.rowsFor('public.b'), FIRST_CHUNK_ROWS, 'widths are per table');
  const four = new ChunkSizer(2_000, 6, budget);
  four.observe('public.a', rows(100, 400));
  assert.equal(four.rowsFor('public.a'), Math.floor(budget / 6 / 400), 'more readers, smaller chunks');
  // Narrow rows: chunkSize caps it; very wide rows: the floor.
  one.observe('public.narrow', rows(100, 4));
  assert.equal(one.rowsFor('public.narrow'), 2_000);
  one.observe('public.wide', rows(10, 200_000));
  assert.equal(one.rowsFor('public.wide'), 16);
  // The width is an average over what was read.
  const mixed = new ChunkSizer(100_000, 1, 1_000_000);
  mixed.observe('public.m', rows(100, 100));
  mixed.observe('public.m', rows(100, 300));
  assert.equal(mixed.rowsFor('public.m'), Math.floor(1_000_000 / 200));
  // A chunkSize below the first chunk's size is kept.
  assert.equal(new ChunkSizer(10, 3).rowsFor('public.a'), 10);
});
