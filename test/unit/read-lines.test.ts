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
    for await (const chunk of spill.read(1000, () => false)) {
      for (const item of chunk) assert.equal(item.after!.id, next++);
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(next, count);
    spill.dispose();
  });
});
