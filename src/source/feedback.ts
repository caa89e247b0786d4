/**
 * Standby status updates: how pgcdc tells PostgreSQL which WAL it may forget.
 *
 *   'r' StandbyStatusUpdate (client → server): Int64 write, Int64 flush, Int64 apply,
 *       Int64 clock, Byte1 replyRequested
 *
 * The flush position sent is the ack tracker's safe position, never more: for a
 * logical slot it becomes `confirmed_flush_lsn`, and decoding restarts there
 * after any crash (docs/lsn-and-acks.md). It is sent periodically, not per
 * event: a status update per message costs the walsender about 3× (see
 * docs/benchmarks.md); when the server asks (a keepalive with replyRequested);
 * and once more when streaming stops.
 */
import type { Lsn } from '../core/lsn.ts';

const STANDBY_STATUS_UPDATE = 0x72; // 'r'

export interface StandbyStatus {
  /** Last WAL byte received (informational for logical replication). */
  written: Lsn;
  /**
   * Everything before this position is safely handled by the consumer. For a
   * logical slot this becomes `confirmed_flush_lsn`: see docs/lsn-and-acks.md.
   */
  flushed: Lsn;
  applied: Lsn;
  /** Postgres-epoch microseconds. */
  clock: bigint;
  replyRequested: boolean;
}

/** Encodes a StandbyStatusUpdate as a complete CopyData ('d') frontend message. */
export function encodeStandbyStatus(status: StandbyStatus): Buffer {
  const message = Buffer.allocUnsafe(1 + 4 + 34);
  message[0] = 0x64; // 'd' CopyData
  message.writeUInt32BE(4 + 34, 1);
  message[5] = STANDBY_STATUS_UPDATE;
  message.writeBigUInt64BE(status.written, 6);
  message.writeBigUInt64BE(status.flushed, 14);
  message.writeBigUInt64BE(status.applied, 22);
  message.writeBigInt64BE(status.clock, 30);
  message[38] = status.replyRequested ? 1 : 0;
  return message;
}

/** Sends the safe position every `intervalMs`, and on demand. */
export class StatusFeedback {
  private timer: NodeJS.Timeout | undefined;
  private readonly send: (flushed: Lsn) => void;
  private readonly safePosition: () => Lsn;
  private readonly intervalMs: number;

  /**
   * @param send writes one status update (CopyBothSession.sendStatus)
   * @param safePosition the position every event before which the consumer confirmed
   */
  constructor(send: (flushed: Lsn) => void, safePosition: () => Lsn, intervalMs: number) {
    this.send = send;
    this.safePosition = safePosition;
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.timer = setInterval(() => this.sendNow(), this.intervalMs);
    this.timer.unref();
  }

  sendNow(): void {
    this.send(this.safePosition());
  }

  /** No more periodic updates; sends the last one. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sendNow();
  }
}
