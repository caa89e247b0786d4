/**
 * The contract every sink keeps: `write(records)` resolves only when the
 * destination has durably accepted every record in it (fsync, PubAck, broker
 * acknowledgement, 2xx). The pipeline confirms the batch, and so lets the slot
 * move past it, only after that (docs/lsn-and-acks.md, rule 1).
 *
 * A sink that fails throws `SinkError`: `retriable` (network, timeout, 5xx) means
 * the pipeline retries the whole batch with backoff, so a sink must tolerate
 * re-delivery (records carry the event id for deduplication); otherwise the
 * records go to the dead-letter destination.
 */
import { CdcError } from '../core/errors.ts';
import type { OutboundRecord } from './outbound-record.ts';
import { giveBack } from '../core/buffer-pool.ts';

/** Records the destination refused for good (e.g. HTTP 4xx): they go to the dead-letter destination. */
export interface SinkResult {
  rejected: Array<{ record: OutboundRecord; reason: string }>;
}

export interface Sink {
  readonly name: string;
  open(): Promise<void>;
  /** Resolves when every record is either durably accepted or listed as rejected. */
  write(records: OutboundRecord[]): Promise<SinkResult | void>;
  close(): Promise<void>;
}

/**
 * A batch already turned into the sink's wire bytes, when it was prepared.
 * Why: records wait for the sink's round trip, a group being written and the
 * next being prepared. Strings and objects that wait that long survive young-
 * generation collections and are copied and promoted; that copying was a fifth
 * of `pgcdc run`'s CPU (docs/benchmarks.md). Bytes in a Buffer live outside the
 * JS heap, so the collector never copies them.
 */
export interface EncodedBatch {
  readonly bytes: Buffer;
  /** Records encoded in `bytes` (the rejected ones are not). */
  readonly count: number;
  /** Records refused while encoding (bad subject, too large): dead letters. */
  readonly rejected: SinkResult['rejected'];
}

/**
 * A sink that encodes batches ahead of writing them (file, stdout, NATS, Redis, RabbitMQ, Kafka, the audit table). Encoded
 * batches are written in order; `writeEncoded` resolves when all are durably
 * accepted, like `write`, and may be called again with the same batches after a
 * retriable failure. Once the pipeline confirms a write, its batches' memory is
 * lent to the next batches (`releaseWritten`, decision 0018): a sink keeps no
 * view of `bytes` past that.
 */
export interface EncodingSink<Batch extends EncodedBatch = EncodedBatch> extends Sink {
  /**
   * How many writes the pipeline may have in flight at once (default 1). Above
   * 1, the sink promises that writes reach the destination in call order, and
   * keeps `follows` (docs/decisions/0007-pipelined-sink-writes.md).
   */
  readonly maxWritesInFlight?: number;
  /** Called only while the sink is open. */
  encode(records: OutboundRecord[]): Batch;
  /**
   * `follows`: this write was started while the previous one was in flight. It
   * must then fail (retriably) without sending anything if that write failed or
   * is failing: sent anyway, its records would land before the earlier ones'
   * retry and break order per key. A write without `follows` (the first, or a
   * retry once nothing is in flight) may reconnect and start afresh.
   */
  writeEncoded(batches: Batch[], options?: { follows?: boolean }): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/**
 * Gives written batches' memory back now rather than when the collector finds
 * them: to the buffer pool when it came from there (buffer-pool.ts), else freed
 * at once (a batch's bytes wait from when it is prepared until its write, long
 * enough to be promoted out of the young generation, where only a full
 * collection frees them: during a snapshot into a file, 40-60 MB of written
 * output waited for one). Detaching a buffer (transfer to length 0) frees its
 * memory; only for a buffer that owns it: one from Node's shared pool (small
 * allocations) holds other buffers' bytes too.
 *
 * Call it only once nothing will read the bytes again: the write is done,
 * succeeded, and nothing can send it again (the destination confirmed it). A
 * batch released is left empty, so that releasing it twice (the sink after its
 * write, the pipeline after the confirm) gives its memory back once.
 */
export function releaseWritten(batches: readonly EncodedBatch[]): void {
  for (const batch of batches) {
    const bytes = batch.bytes;
    if (bytes.length === 0) continue;
    if (!giveBack(bytes) && bytes.byteOffset === 0 && bytes.buffer.byteLength > Buffer.poolSize && bytes.buffer instanceof ArrayBuffer) bytes.buffer.transfer(0);
    (batch as { bytes: Buffer }).bytes = EMPTY;
  }
}

export function isEncodingSink(sink: Sink): sink is EncodingSink {
  return typeof (sink as Partial<EncodingSink>).encode === 'function' && typeof (sink as Partial<EncodingSink>).writeEncoded === 'function';
}

export class SinkError extends CdcError {
  /** When the destination said when to come back (HTTP Retry-After): wait at least this long. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retriable: boolean; cause?: unknown; retryAfterMs?: number }) {
    super('PGCDC_SINK', message, options);
    this.name = 'SinkError';
    this.retryAfterMs = options.retryAfterMs;
  }
}
