/**
 * The replication sub-protocol carried in CopyData messages during START_REPLICATION.
 * https://www.postgresql.org/docs/current/protocol-replication.html
 *
 *   'w' XLogData:        Int64 walStart, Int64 walEnd, Int64 sendTime, Byten data
 *   'k' PrimaryKeepalive: Int64 walEnd, Int64 sendTime, Byte1 replyRequested
 *
 * Reading only: the one message pgcdc sends back, the standby status update, is
 * encoded in source/feedback.ts beside the timer that sends it.
 */
import { ProtocolError } from '../core/errors.ts';
import type { Lsn } from '../core/lsn.ts';

export const XLOG_DATA = 0x77; // 'w'
export const PRIMARY_KEEPALIVE = 0x6b; // 'k'
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
