/**
 * The source side of a change stream: what the replication socket delivers,
 * decoded and assembled, waiting in order for the consumer.
 *
 * Everything here runs synchronously, per socket read (CopyBothSession's
 * handlers). The queue also does the stream's flow control: it pauses the
 * socket when too many items wait (the server then holds the rest, which is
 * what backpressure on a replication slot means) and resumes it when the
 * consumer has drained it.
 *
 * Order is the whole point: entries leave in the order the server sent them,
 * because the ack tracker registers them in that order (docs/lsn-and-acks.md).
 */
import { CdcError } from '../core/errors.ts';
import type { Lsn } from '../core/lsn.ts';
import type { AssemblerOutput } from '../assemble/transaction-assembler.ts';
import type { PrimaryKeepalive, XLogDataHeader } from '../decode/copy-both.ts';
import type { StreamDecoder } from './stream-decoders.ts';

export type QueueEntry =
  | AssemblerOutput
  /** A position with nothing of ours before it still undelivered (an idle keepalive). */
  | { kind: 'position'; lsn: Lsn }
  | { kind: 'end'; error: CdcError | undefined };

/** What the queue needs of the replication socket: pausing and resuming reads. */
export interface FlowControl {
  pause(): void;
  resume(): void;
  readonly paused: boolean;
}

export interface ChangeQueueOptions {
  decoder: StreamDecoder;
  /** Stop reading the socket while this many items (events to be) wait. */
  maxQueued: number;
  /** Queue keepalive positions when no transaction is half received (docs/lsn-and-acks.md). */
  acknowledgeKeepalives: boolean;
  /** End once everything up to this position was queued (pg_recvlogical -E). */
  untilLsn: Lsn | undefined;
  /** The server asked for a status update now. */
  onReplyRequested: () => void;
}

/**
 * Items waiting before the socket is paused, unless the stream's options say
 * otherwise. 2,000, not more: every queued item lives through young-generation
 * collections and is promoted, so the collector's cost grows with the queue's
 * depth. With a sink that makes the stream wait (fsync, a round trip) the
 * queue sits near full: at 10,000, `pgcdc run` into a file spent 1.12x the CPU
 * and 1.06x the time of 2,000 (docs/benchmarks.md). 2,000 changes still cover
 * 20 ms of a sink's round trip at 100,000 changes/s, besides the group prepared
 * ahead and the socket's own buffers.
 */
export const DEFAULT_MAX_QUEUED = 2_000;

/** Wake the consumer at once when this many items wait; otherwise after WAKE_DELAY_MS. */
const WAKE_NOW_ITEMS = 1_000;
const WAKE_DELAY_MS = 1;

type HeldFrame = { header: XLogDataHeader; payload: Buffer } | { keepalive: PrimaryKeepalive };

export class ChangeQueue {
  private readonly options: ChangeQueueOptions;
  private readonly entries: QueueEntry[] = [];
  private items = 0;
  private wake: (() => void) | undefined;
  /** A wake-up due in WAKE_DELAY_MS (see push). */
  private wakeTimer: NodeJS.Timeout | undefined;
  private ended = false;
  private untilLsn: Lsn | undefined;
  /** Frames held while the catalog is read (a schema message named something unknown). */
  private held: HeldFrame[] | undefined;
  /** Set once replication has started (the session is made after the queue). */
  flow: FlowControl = { pause: () => undefined, resume: () => undefined, paused: false };

  constructor(options: ChangeQueueOptions) {
    this.options = options;
    this.untilLsn = options.untilLsn;
  }

  /** Items (row changes and messages) waiting for the consumer. */
  get queuedItems(): number {
    return this.items;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  // ---- filled by the socket -------------------------------------------------------------------

  onXLogData(header: XLogDataHeader, buffer: Buffer, start: number, end: number): void {
    if (this.held !== undefined) {
      this.held.push({ header, payload: Buffer.from(buffer.subarray(start, end)) });
      return;
    }
    const output = this.options.decoder.push(buffer, start, end, header.walStart);
    if (output !== undefined) this.accept(output);
  }

  onKeepalive(keepalive: PrimaryKeepalive): void {
    if (this.held !== undefined) {
      this.held.push({ keepalive });
      return;
    }
    const inTransaction = this.options.decoder.inTransaction;
    // A keepalive's walEnd is safe to acknowledge only when no transaction is half
    // received; it is queued behind everything already received (docs/lsn-and-acks.md).
    if (!inTransaction && this.options.acknowledgeKeepalives) this.push({ kind: 'position', lsn: keepalive.walEnd });
    const until = this.untilLsn;
    if (until !== undefined && keepalive.walEnd >= until && !inTransaction) this.reachedEnd();
    if (keepalive.replyRequested) this.options.onReplyRequested();
  }

  /** After each socket read: pause reading while the consumer is behind. */
  onChunkEnd(): void {
    if (this.items >= this.options.maxQueued) this.flow.pause();
  }

  /** The stream ended (by the server, an error, or a stop). */
  end(error: CdcError | undefined): void {
    this.push({ kind: 'end', error });
  }

  /** Ends once everything up to `lsn` was queued: later transactions are not delivered. */
  endAt(lsn: Lsn): void {
    this.untilLsn = lsn;
  }

  /**
   * Holds every frame from now on, in order, while `refresh` reads the catalog
   * (a new type, a new REPLICA IDENTITY FULL table's key), so no later row is
   * converted with missing knowledge; then replays them.
   */
  holdWhile(refresh: () => Promise<unknown>, onRefreshFailed: (error: Error) => void): void {
    this.held = [];
    this.flow.pause();
    refresh()
      .catch(onRefreshFailed)
      .finally(() => this.releaseHeld());
  }

  private releaseHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    try {
      for (let i = 0; i < held.length; i++) {
        const frame = held[i]!;
        if ('keepalive' in frame) this.onKeepalive(frame.keepalive);
        else this.onXLogData(frame.header, frame.payload, 0, frame.payload.length);
        if (this.held !== undefined) {
          // Another unknown name: keep the rest for the next release, in order.
          (this.held as HeldFrame[]).push(...held.slice(i + 1));
          return;
        }
      }
    } catch (error) {
      this.end(error instanceof CdcError ? error : new CdcError('PGCDC_PROTOCOL', String(error)));
      return;
    }
    if (this.items < this.options.maxQueued) this.flow.resume();
  }

  private accept(output: AssemblerOutput): void {
    const until = this.untilLsn;
    if (until !== undefined) {
      const position = output.kind === 'transaction' ? output.transaction.commitLsn : output.lsn;
      if (position !== undefined && position > until) {
        if (output.kind === 'transaction') output.transaction.buffer.dispose();
        this.reachedEnd();
        return;
      }
    }
    this.push(output);
  }

  private reachedEnd(): void {
    if (this.ended) return;
    this.end(undefined);
    this.flow.pause();
  }

  private push(entry: QueueEntry): void {
    if (this.ended) {
      if (entry.kind === 'transaction') entry.transaction.buffer.dispose();
      return;
    }
    if (entry.kind === 'end') this.ended = true;
    this.entries.push(entry);
    if (entry.kind === 'transaction') this.items += entry.transaction.buffer.count;
    else if (entry.kind === 'message') this.items += 1;
    // A consumer waiting for a small amount is woken a millisecond later, with
    // what the reads in between added: one batch, one write and one round of
    // acknowledgement bookkeeping per millisecond rather than per socket read
    // (reads go on meanwhile, so the walsender is not held back).
    if (this.items >= WAKE_NOW_ITEMS || entry.kind === 'end') this.wakeConsumer();
    else this.wakeTimer ??= setTimeout(() => this.wakeConsumer(), WAKE_DELAY_MS);
  }

  // ---- drained by the consumer ----------------------------------------------------------------

  /** The next entry, or undefined when none waits (then `waitForMore`). */
  take(): QueueEntry | undefined {
    return this.entries.shift();
  }

  /** Waits until an entry arrives or `wakeConsumer` is called; resumes reading if it was paused. */
  waitForMore(): Promise<void> {
    if (this.flow.paused && !this.ended && this.held === undefined) this.flow.resume();
    return new Promise<void>((resolve) => { this.wake = resolve; });
  }

  /** The consumer is done with `count` items of what it took. */
  release(count: number): void {
    this.items -= count;
  }

  wakeConsumer(): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Drops what waits (its spill files too) and ends the queue. */
  close(): void {
    for (const entry of this.entries) if (entry.kind === 'transaction') entry.transaction.buffer.dispose();
    this.entries.length = 0;
    if (!this.ended) this.end(undefined);
  }
}
