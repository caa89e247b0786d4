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
  return { bytes: encodeLines(records, valueOf), count: records.length, rejected: [] };
}

const valueOf = (record: OutboundRecord): string => record.value;

/**
 * Each item's text followed by a newline, encoded straight into one pooled
 * Buffer (given back once written): no joined copy of the texts first, which
 * for `tail` was a quarter of all it allocated (docs/benchmarks.md, thirteenth
 * stop). The sinks' batches and `tail`'s output (`FdWriter.writeLines`).
 */
export function encodeLines<T>(items: readonly T[], text: (item: T) => string): Buffer {
  let estimate = 0;
  for (const item of items) estimate += text(item).length + 1;
  const out = new ByteWriter(estimate, { pooled: true });
  for (const item of items) {
    out.utf8(text(item));
    out.ascii('\n');
  }
  return out.finish();
}
