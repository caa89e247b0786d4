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

export class SinkError extends CdcError {
  /** When the destination said when to come back (HTTP Retry-After): wait at least this long. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retriable: boolean; cause?: unknown; retryAfterMs?: number }) {
    super('PGCDC_SINK', message, options);
    this.name = 'SinkError';
    this.retryAfterMs = options.retryAfterMs;
  }
}
