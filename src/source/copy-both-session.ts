/**
 * The CopyBoth phase of START_REPLICATION on a socket pgcdc owns.
 *
 * Each socket read is framed and handled synchronously, then `onChunkEnd` runs
 * once, so downstream work is batched per read rather than per message (on this
 * hardware, waking per message halves throughput: ../docs/benchmarks.md).
 * `pause()` stops reading the socket; TCP flow control then holds the server
 * back, which bounds memory whatever the WAL backlog.
 *
 * Over TCP, after a small read that left nothing else buffered, the socket is
 * left unread for a millisecond (READ_LINGER_MS): a client faster than the
 * walsender otherwise wakes for every few messages, and each wake costs the
 * walsender a cross-CPU wake-up and pgcdc a round of work (../shared/bench
 * RESULTS, surprise 2: read batching). Node keeps what arrives meanwhile in the
 * socket's buffer, up to its high-water mark, and hands it over chunk by chunk
 * when reading resumes: a linger starts only once those chunks are all handled
 * (readableLength 0), or a burst of small chunks would be handled one per
 * millisecond. Not over a unix socket, where it measured no better
 * (docs/benchmarks.md).
 */
import type { Socket } from 'node:net';
import { CdcError } from '../core/errors.ts';
import { type Lsn, LSN_ZERO } from '../core/lsn.ts';
import { unixMsToPostgresMicros } from '../core/time.ts';
import { BackendFramer, parseErrorFields } from '../decode/backend-framer.ts';
import {
  PRIMARY_KEEPALIVE,
  readPrimaryKeepalive,
  readXLogDataHeader,
  XLOG_DATA,
  XLOG_DATA_HEADER,
  type PrimaryKeepalive,
  type XLogDataHeader,
} from '../decode/copy-both.ts';
import { encodeStandbyStatus } from './feedback.ts';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';

export interface CopyBothHandler {
  /** One XLogData message; the payload is `buffer[start, end)`, valid only during the call. */
  onXLogData(header: XLogDataHeader, buffer: Buffer, start: number, end: number): void;
  onKeepalive(keepalive: PrimaryKeepalive): void;
  /** After all complete messages of one socket read were handled. */
  onChunkEnd(): void;
  /** The stream ended: `error` is undefined for a clean end we asked for. */
  onEnd(error: CdcError | undefined): void;
}

const CODE = {
  CopyData: 0x64, // 'd'
  CopyBothResponse: 0x57, // 'W'
  CopyDone: 0x63, // 'c'
  CommandComplete: 0x43, // 'C'
  ReadyForQuery: 0x5a, // 'Z'
  ErrorResponse: 0x45, // 'E'
  NoticeResponse: 0x4e, // 'N'
  ParameterStatus: 0x53, // 'S'
} as const;

/** A read smaller than this is followed by a linger (Node reads at most 64 KiB at once). */
const SMALL_READ = 32 * 1024;
const READ_LINGER_MS = 1;

export class CopyBothSession {
  private readonly socket: Socket;
  /** Paused by flow control (the consumer is behind), as opposed to a linger. */
  private flowPaused = false;
  private lingering = false;
  private readonly lingers: boolean;
  private readonly handler: CopyBothHandler;
  private readonly context: ErrorContext;
  private readonly framer = new BackendFramer();
  private ended = false;
  private ending: Promise<void> | undefined;
  private resolveEnding: (() => void) | undefined;
  private streaming = false;
  /** Highest WAL position received (XLogData end or keepalive walEnd). */
  lastReceived: Lsn = LSN_ZERO;
  /** Bytes of XLogData payload received, for metrics and benchmarks. */
  bytesReceived = 0;

  constructor(socket: Socket, handler: CopyBothHandler, context: ErrorContext) {
    this.socket = socket;
    this.handler = handler;
    this.context = context;
    this.lingers = socket.remoteFamily === 'IPv4' || socket.remoteFamily === 'IPv6';
  }

  start(sql: string): void {
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('close', () => this.finish(this.ending ? undefined : new CdcError('PGCDC_REPLICATION_ENDED', 'the server closed the replication connection; pgcdc resumes from the slot\'s confirmed position when restarted', { retriable: true })));
    this.socket.on('error', (error) => this.finish(classifyPostgresError(error, this.context)));
    const body = Buffer.from(`${sql}\0`, 'utf8');
    const message = Buffer.allocUnsafe(5 + body.length);
    message[0] = 0x51; // 'Q'
    message.writeUInt32BE(4 + body.length, 1);
    body.copy(message, 5);
    this.socket.write(message);
  }

  pause(): void {
    this.flowPaused = true;
    this.socket.pause();
  }

  resume(): void {
    this.flowPaused = false;
    if (!this.ended && !this.lingering) this.socket.resume();
  }

  get paused(): boolean {
    return this.flowPaused;
  }

  private linger(): void {
    this.lingering = true;
    this.socket.pause();
    setTimeout(() => {
      this.lingering = false;
      if (!this.flowPaused && !this.ended) this.socket.resume();
    }, READ_LINGER_MS);
  }

  /** Sends a standby status update. `flushed` is the acknowledged position (docs/lsn-and-acks.md). */
  sendStatus(flushed: Lsn, replyRequested = false): void {
    if (this.ended || !this.streaming) return;
    this.socket.write(encodeStandbyStatus({
      written: this.lastReceived > flushed ? this.lastReceived : flushed,
      flushed,
      applied: flushed,
      clock: unixMsToPostgresMicros(Date.now()),
      replyRequested,
    }));
  }

  /**
   * Ends streaming cleanly: CopyDone, then waits (briefly) for the server's
   * CopyDone, which also proves it processed every status update sent before.
   */
  end(timeoutMs = 5000): Promise<void> {
    if (this.ending) return this.ending;
    this.ending = new Promise<void>((resolve) => {
      this.resolveEnding = resolve;
    });
    if (this.ended) {
      this.resolveEnding?.();
      return this.ending;
    }
    if (this.streaming) this.socket.write(Buffer.from([CODE.CopyDone, 0, 0, 0, 4]));
    this.socket.resume();
    const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
    timer.unref();
    void this.ending.then(() => clearTimeout(timer));
    if (!this.streaming) this.socket.destroy();
    return this.ending;
  }

  private onData(chunk: Buffer): void {
    try {
      this.framer.push(chunk, this.onFrame);
      if (this.streaming) {
        this.handler.onChunkEnd();
        if (this.lingers && chunk.length < SMALL_READ && !this.lingering && !this.ending && this.socket.readableLength === 0) this.linger();
      }
    } catch (error) {
      this.fail(error instanceof CdcError ? error : new CdcError('PGCDC_PROTOCOL', `replication stream failed: ${(error as Error).message}`, { cause: error }));
    }
  }

  private readonly onFrame = (code: number, buffer: Buffer, start: number, end: number): void => {
    if (code === CODE.CopyData) {
      const kind = buffer[start];
      if (kind === XLOG_DATA) {
        const header = readXLogDataHeader(buffer, start, end);
        const payloadEnd = end;
        if (header.walEnd > this.lastReceived) this.lastReceived = header.walEnd;
        this.bytesReceived += payloadEnd - start - XLOG_DATA_HEADER;
        this.handler.onXLogData(header, buffer, start + XLOG_DATA_HEADER, payloadEnd);
      } else if (kind === PRIMARY_KEEPALIVE) {
        const keepalive = readPrimaryKeepalive(buffer, start, end);
        if (keepalive.walEnd > this.lastReceived) this.lastReceived = keepalive.walEnd;
        this.handler.onKeepalive(keepalive);
      }
      return;
    }
    switch (code) {
      case CODE.CopyBothResponse:
        this.streaming = true;
        return;
      case CODE.ErrorResponse: {
        const fields = parseErrorFields(buffer, start, end);
        this.fail(classifyPostgresError(Object.assign(new Error(fields.message ?? 'unknown server error'), fields), this.context));
        return;
      }
      case CODE.CopyDone:
        // The server finished its side (our CopyDone was processed): we are done.
        if (this.ending) this.socket.end();
        return;
      case CODE.ReadyForQuery:
        if (this.ending) this.socket.destroy();
        return;
      default:
        return; // CommandComplete, NoticeResponse, ParameterStatus: nothing to do
    }
  };

  private fail(error: CdcError): void {
    this.finish(error);
    this.socket.destroy();
  }

  private finish(error: CdcError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.streaming = false;
    this.resolveEnding?.();
    this.handler.onEnd(this.ending && error?.code === 'PGCDC_REPLICATION_ENDED' ? undefined : error);
  }
}
