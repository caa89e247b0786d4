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
  const out = new ByteWriter(estimate, { pooled: true });
  for (const record of records) {
    out.utf8(record.value);
    out.ascii('\n');
  }
  return { bytes: out.finish(), count: records.length, rejected: [] };
}
