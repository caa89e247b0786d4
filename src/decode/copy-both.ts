/**
 * The replication sub-protocol carried in CopyData messages during START_REPLICATION.
 * https://www.postgresql.org/docs/current/protocol-replication.html
 *
 *   'w' XLogData:        Int64 walStart, Int64 walEnd, Int64 sendTime, Byten data
 *   'k' PrimaryKeepalive: Int64 walEnd, Int64 sendTime, Byte1 replyRequested
 *   'r' StandbyStatusUpdate (client → server): Int64 write, Int64 flush, Int64 apply,
 *       Int64 clock, Byte1 replyRequested
 */
import { ProtocolError } from '../core/errors.ts';
import type { Lsn } from '../core/lsn.ts';

export const XLOG_DATA = 0x77; // 'w'
export const PRIMARY_KEEPALIVE = 0x6b; // 'k'
const STANDBY_STATUS_UPDATE = 0x72; // 'r'
export const XLOG_DATA_HEADER = 25;

export interface XLogDataHeader {
  walStart: Lsn;
  walEnd: Lsn;
  sendTime: bigint;
}

export interface PrimaryKeepalive {
  walEnd: Lsn;
  sendTime: bigint;
  replyRequested: boolean;
}

/** Reads the XLogData header at `start` (the 'w' byte); the payload begins at start + 25. */
export function readXLogDataHeader(buffer: Buffer, start: number, end: number): XLogDataHeader {
  if (end - start < XLOG_DATA_HEADER) throw new ProtocolError(`truncated XLogData header (${end - start} bytes)`, start);
  return {
    walStart: buffer.readBigUInt64BE(start + 1) as Lsn,
    walEnd: buffer.readBigUInt64BE(start + 9) as Lsn,
    sendTime: buffer.readBigInt64BE(start + 17),
  };
}

export function readPrimaryKeepalive(buffer: Buffer, start: number, end: number): PrimaryKeepalive {
  if (end - start < 18) throw new ProtocolError(`truncated keepalive (${end - start} bytes)`, start);
  return {
    walEnd: buffer.readBigUInt64BE(start + 1) as Lsn,
    sendTime: buffer.readBigInt64BE(start + 9),
    replyRequested: buffer[start + 17] === 1,
  };
}

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
