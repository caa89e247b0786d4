/**
 * A batch of records as JSON lines, in one Buffer: what the file and stdout
 * sinks write. Encoded when the batch is prepared (sink.ts says why), so the
 * records themselves need not wait for the write.
 */
import { ByteWriter } from '../core/byte-writer.ts';
import type { OutboundRecord } from './outbound-record.ts';
import type { EncodedBatch } from './sink.ts';

const EMPTY = Buffer.alloc(0);

export function encodeJsonLines(records: OutboundRecord[]): EncodedBatch {
  if (records.length === 0) return { bytes: EMPTY, count: 0, rejected: [] };
  let estimate = 0;
  for (const record of records) estimate += record.value.length + 1;
  const out = new ByteWriter(estimate);
  for (const record of records) {
    out.utf8(record.value);
    out.ascii('\n');
  }
  return { bytes: out.finish(), count: records.length, rejected: [] };
}

/**
 * Gives written batches' memory back now rather than when the collector finds
 * them. A batch's bytes wait from when it is prepared until its write, long
 * enough to be promoted out of the young generation, where only a full
 * collection frees them: during a snapshot into a file, 40-60 MB of written
 * output waited for one. Detaching a buffer (transfer to length 0) frees its
 * memory at once. Only for a buffer that owns its memory: one from Node's
 * shared pool (small allocations) holds other buffers' bytes too. Call it only
 * once nothing will read the bytes again (the write is done, and succeeded).
 */
export function releaseWritten(batches: readonly EncodedBatch[]): void {
  for (const { bytes } of batches) {
    if (bytes.byteOffset === 0 && bytes.buffer.byteLength > Buffer.poolSize && bytes.buffer instanceof ArrayBuffer) bytes.buffer.transfer(0);
  }
}
