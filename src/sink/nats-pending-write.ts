/**
 * One NATS sink write in progress: the PubAcks it awaits, how they are counted
 * and read, and the wait for them (nats-sink.ts sends; this keeps score).
 */
import type { InboundMessage } from './nats-publisher.ts';
import { bytesAt } from '../core/bytes.ts';

/** The PubAcks awaited by one write in progress (several may be: `maxWritesInFlight`). */
export interface PendingWrite {
  /** PubAcks still awaited, per reply token of this write. */
  remaining: Map<number, number>;
  /** Records sent and not yet answered. */
  waiting: number;
  /** Every frame was handed to the socket (a write that follows may go next). */
  allSent: boolean;
  /**
   * The keys of the runs sent since this write last waited for its PubAcks, in
   * one set: a write that follows waits for this one where it has one of them.
   * (One set per batch, checked one by one, cost each record a look-up per batch
   * of the write and of the write before it: 7% of `pgcdc run → NATS`'s profile.)
   */
  unconfirmedKeys: Set<number>;
  failure: string | undefined;
  noStream: boolean;
  /** The server refused a publish for the user's permissions: a configuration error, not retried. */
  denied?: boolean;
  /** A record is larger than its stream's `max_msg_size`: every retry would be refused the same way. */
  tooLarge?: boolean;
  /** Wakes whoever waits for `waiting` to reach 0 (or a failure). */
  settle: () => void;
  ended: boolean;
  /** Resolves when `writeEncoded` returned or threw for this write. */
  readonly end: Promise<void>;
  finish: () => void;
}

export function pendingWrite(): PendingWrite {
  let finish!: () => void;
  const end = new Promise<void>((resolve) => { finish = resolve; });
  const pending: PendingWrite = {
    remaining: new Map(), waiting: 0, allSent: false, unconfirmedKeys: new Set(), failure: undefined, noStream: false,
    settle: () => undefined, ended: false, end, finish: () => { pending.ended = true; finish(); },
  };
  return pending;
}

const PUBACK_START = Buffer.from('{"stream"');
/** JetStream's JSStreamMessageExceedsMaximumErr: the record is over the stream's max_msg_size. */
const JS_MESSAGE_EXCEEDS_MAXIMUM = 10054;

/** Reads one PubAck (already counted against `pending`): a failure is kept, the first one wins. */
export function readPubAck(pending: PendingWrite, message: InboundMessage, decoder: { decode(bytes: Uint8Array): string }): void {
  if (message.status === 503) {
    pending.failure ??= 'no responders: no JetStream stream captures this subject';
    pending.noStream = true;
    return;
  }
  // A PubAck is {"stream":..,"seq":..[,"duplicate":true]}; a failure is {"error":{..}}.
  // Only the first bytes are compared on the hot path.
  const data = message.payload;
  if (bytesAt(data, 0, PUBACK_START)) return;
  const text = decoder.decode(data);
  let description = text;
  try {
    const error = (JSON.parse(text) as { error?: { description?: string; err_code?: number } }).error;
    description = error?.description ?? text;
    if (error?.err_code === JS_MESSAGE_EXCEEDS_MAXIMUM) pending.tooLarge = true;
  } catch { /* keep the raw text */ }
  pending.failure ??= description || `status ${message.status ?? 'unknown'}`;
}

/** Waits until every record sent so far has its PubAck, or the write failed; a timeout fails it. */
export async function confirmations(pending: PendingWrite, sent: number, timeoutMs: number): Promise<void> {
  if (pending.waiting === 0 || pending.failure !== undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const answered = new Promise<boolean>((resolve) => { pending.settle = () => resolve(true); });
  const inTime = await Promise.race([
    answered,
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
  ]);
  clearTimeout(timer);
  if (!inTime) {
    pending.failure ??= `no PubAck for ${pending.waiting} of ${sent} records within ${timeoutMs} ms; check that nats-server is reachable and runs with JetStream (-js)`;
  }
}
