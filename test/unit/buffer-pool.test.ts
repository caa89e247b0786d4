import { test } from 'node:test';
import assert from 'node:assert/strict';
import { giveBack, pooledBytes, takeBuffer } from '../../src/core/buffer-pool.ts';
import { ByteWriter } from '../../src/core/byte-writer.ts';
import { releaseWritten, type EncodedBatch } from '../../src/sink/sink.ts';

/** Empties the pool: takes what it holds (large requests first, so each take finds a buffer). */
function drain(): void {
  while (pooledBytes() > 0) takeBuffer(1);
}

test('a buffer given back is lent again, to one taker only, and only when it is large enough', () => {
  drain();
  const first = takeBuffer(100_000);
  assert.ok(first.length >= 100_000);
  const memory = first.buffer;
  assert.equal(giveBack(first.subarray(10, 20)), true, 'any view of it gives it back');
  assert.equal(giveBack(first), true);
  assert.equal(pooledBytes(), memory.byteLength, 'given back twice, held once');
  assert.notEqual(takeBuffer(memory.byteLength + 1).buffer, memory, 'too small for this request');
  const again = takeBuffer(50_000);
  assert.equal(again.buffer, memory, 'reused');
  assert.notEqual(takeBuffer(50_000).buffer, memory, 'not lent twice');
  assert.equal(pooledBytes(), 0);
});

test("memory the pool did not make is not taken in: Node's shared pool, a plain Buffer", () => {
  drain();
  const shared = Buffer.from('a few bytes from the shared pool');
  assert.equal(giveBack(shared), false);
  assert.equal(giveBack(Buffer.allocUnsafeSlow(200_000)), false);
  assert.equal(pooledBytes(), 0);
  // Nor lent out later: the next take is new memory, and the shared bytes are intact.
  takeBuffer(10).fill(0x78);
  assert.equal(shared.toString(), 'a few bytes from the shared pool');
});

test('the pool holds at most 32 MiB; what does not fit is freed at once (detached)', () => {
  drain();
  const buffers = Array.from({ length: 6 }, () => takeBuffer(7 * 1024 * 1024));
  const memories = buffers.map((b) => b.buffer);
  for (const buffer of buffers) giveBack(buffer);
  assert.ok(pooledBytes() <= 32 * 1024 * 1024, `${pooledBytes()} bytes held`);
  assert.ok(pooledBytes() >= 3 * 7 * 1024 * 1024, 'it still holds what fits');
  const freed = memories.filter((m) => m.byteLength === 0).length;
  assert.ok(freed >= 1, 'what did not fit was detached');
  drain();
});

test('a pooled writer grows within the pool and ends on its memory (no copy); releasing a batch twice gives it back once', () => {
  drain();
  const out = new ByteWriter(64, { pooled: true });
  const text = 'x'.repeat(200_000);
  out.utf8(text);
  out.ascii('\n');
  const bytes = out.finish();
  assert.equal(bytes.toString(), `${text}\n`);
  assert.ok(pooledBytes() > 0, 'the buffer it outgrew was given back');
  const outgrown = pooledBytes();
  const batch: EncodedBatch = { bytes, count: 1, rejected: [] };
  releaseWritten([batch]);
  releaseWritten([batch]);
  assert.equal(batch.bytes.length, 0, 'a released batch is left empty');
  assert.equal(pooledBytes(), outgrown + bytes.buffer.byteLength);
  // An unpooled writer's large batch is freed at once when released, not pooled.
  const plain = new ByteWriter(300_000);
  plain.utf8(text);
  const plainBytes = plain.finish();
  const plainMemory = plainBytes.buffer;
  releaseWritten([{ bytes: plainBytes, count: 1, rejected: [] }]);
  assert.equal(plainMemory.byteLength, 0);
  assert.equal(pooledBytes(), outgrown + bytes.buffer.byteLength);
  drain();
});
