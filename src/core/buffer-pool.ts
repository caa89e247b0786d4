/**
 * Memory for the sinks' encoded batches, used again once a batch is written
 * and confirmed, instead of a new Buffer per batch.
 *
 * Why: a new Buffer of a few megabytes costs more than encoding a batch into
 * it. Its pages are new to the process (mapped and zeroed by the kernel when
 * first touched), and V8 gives an ArrayBuffer's memory back only when the
 * collector finds it dead. In isolation, encoding 700-byte records into a new
 * Buffer per batch of 1,000-5,000 cost 0.78-1.21 µs per record, into a reused
 * one 0.12-0.19; a profile of `pgcdc run` → RabbitMQ spent 5% of its CPU
 * allocating them (docs/benchmarks.md).
 *
 * Only Buffers made here come back here: one from Node's shared pool (small
 * allocations) holds other Buffers' bytes. A Buffer must be given back only
 * once nothing will read or write it again (sink.ts, `releaseWritten`).
 */

/** What the pool may hold while nothing uses it: what a few batches in flight need, not more. */
const FREE_BYTES_MAX = 32 * 1024 * 1024;
/** Sizes are rounded up to this, with room to spare, so that a batch a little larger than the last still fits a free buffer. */
const SIZE_STEP = 64 * 1024;

const free: ArrayBuffer[] = [];
let freeBytes = 0;
/** The ArrayBuffers this pool made (weakly: an abandoned batch's is simply collected). */
const made = new WeakSet<ArrayBuffer>();

/** A Buffer of at least `minBytes` (its contents are whatever was there). */
export function takeBuffer(minBytes: number): Buffer {
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    const size = free[i]!.byteLength;
    if (size >= minBytes && (best < 0 || size < free[best]!.byteLength)) best = i;
  }
  if (best >= 0) {
    const memory = free[best]!;
    free[best] = free[free.length - 1]!;
    free.pop();
    freeBytes -= memory.byteLength;
    return Buffer.from(memory);
  }
  const size = Math.ceil((minBytes * 1.25) / SIZE_STEP) * SIZE_STEP;
  const buffer = Buffer.allocUnsafeSlow(size);
  made.add(buffer.buffer as ArrayBuffer);
  return buffer;
}

/**
 * Gives back the memory under `bytes` (any view of a Buffer from `takeBuffer`).
 * False when it did not come from here: the caller frees it as it likes.
 */
export function giveBack(bytes: Uint8Array): boolean {
  const memory = bytes.buffer;
  if (!(memory instanceof ArrayBuffer) || !made.has(memory)) return false;
  // Given back twice, it would be lent to two batches at once.
  if (free.includes(memory)) return true;
  if (freeBytes + memory.byteLength > FREE_BYTES_MAX) {
    // Full: the smallest free ones make room (they fit the fewest batches).
    // What is let go is freed now (detached), not when the collector finds it.
    free.sort((a, b) => b.byteLength - a.byteLength);
    while (free.length > 0 && freeBytes + memory.byteLength > FREE_BYTES_MAX) {
      const dropped = free.pop()!;
      freeBytes -= dropped.byteLength;
      dropped.transfer(0);
    }
    if (freeBytes + memory.byteLength > FREE_BYTES_MAX) {
      memory.transfer(0);
      return true;
    }
  }
  free.push(memory);
  freeBytes += memory.byteLength;
  return true;
}

/** Bytes held for reuse (tests). */
export function pooledBytes(): number {
  return freeBytes;
}
