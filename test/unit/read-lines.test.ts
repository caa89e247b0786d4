import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readLines } from '../../src/core/read-lines.ts';
import { SpillFile } from '../../src/assemble/spill-file.ts';
import type { PendingItem } from '../../src/assemble/pending-item.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgcdc-lines-'));

async function all(path: string, chunkBytes?: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(path, chunkBytes)) lines.push(line);
  return lines;
}

describe('readLines', () => {
  test('lines split across chunks, multi-byte characters cut by a chunk edge, a last line without a newline', async () => {
    const path = join(dir, 'mixed.txt');
    const lines = ['', 'café', '€€€€', 'a'.repeat(50), '😀 ok', 'last'];
    writeFileSync(path, lines.join('\n'));
    for (const chunkBytes of [1, 2, 3, 7, 64, 1 << 20]) assert.deepEqual(await all(path, chunkBytes), lines, `chunks of ${chunkBytes}`);
    writeFileSync(path, 'one\ntwo\n');
    assert.deepEqual(await all(path), ['one', 'two']);
    writeFileSync(path, '');
    assert.deepEqual(await all(path), []);
  });

  test('a consumer that awaits between lines reads to the end (node:readline threw ERR_USE_AFTER_CLOSE here)', async () => {
    const path = join(dir, 'long.txt');
    const count = 300_000;
    writeFileSync(path, Array.from({ length: count }, (_, i) => `line ${i}`).join('\n') + '\n');
    let n = 0;
    for await (const line of readLines(path)) {
      assert.equal(line, `line ${n}`);
      if (++n % 2000 === 0) await new Promise((r) => setTimeout(r, 1)); // a sink write between chunks
    }
    assert.equal(n, count);
  });
});

describe('SpillFile', () => {
  test('reads back every spilled item in order while its chunks wait for a slow consumer', async () => {
    const spill = new SpillFile(dir);
    const count = 200_000;
    for (let i = 0; i < count; i++) {
      spill.append({ op: 'c', schema: 'public', table: 't', before: null, after: { id: i, note: `n${i}` }, key: { id: i }, message: undefined, lsn: BigInt(i + 1), xid: 7 } as unknown as PendingItem);
    }
    let next = 0;
    let lastFlags = 0;
    for await (const chunk of spill.read(1000, 1 << 30, () => false)) {
      for (const item of chunk.items) assert.equal(item.after!.id, next++);
      if (chunk.last) lastFlags++;
      assert.equal(chunk.last, next === count, 'only the final chunk is marked last');
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(next, count);
    assert.equal(lastFlags, 1);
    spill.dispose();
  });

  test('marks the last chunk without reading ahead: a partial tail, an exact multiple, dropped records at the end', async () => {
    const cases = [
      { count: 2_500, drop: (id: number) => id < 0, chunks: [1000, 1000, 500] },
      { count: 3_000, drop: (id: number) => id < 0, chunks: [1000, 1000, 1000] },
      // Everything after the second full chunk is dropped (an aborted subtransaction): an empty last chunk.
      { count: 2_600, drop: (id: number) => id >= 2_000, chunks: [1000, 1000, 0] },
      { count: 0, drop: (id: number) => id < 0, chunks: [0] },
    ];
    for (const c of cases) {
      const spill = new SpillFile(dir);
      for (let i = 0; i < c.count; i++) {
        spill.append({ op: 'c', schema: 'public', table: 't', before: null, after: { id: i }, key: { id: i }, message: undefined, lsn: BigInt(i + 1), xid: 7 } as unknown as PendingItem);
      }
      const seen: Array<[number, boolean]> = [];
      for await (const chunk of spill.read(1000, 1 << 30, (item) => c.drop(item.after!.id as number))) seen.push([chunk.items.length, chunk.last]);
      assert.deepEqual(seen, c.chunks.map((n, i) => [n, i === c.chunks.length - 1]), `${c.count} records`);
      spill.dispose();
    }
  });
});
