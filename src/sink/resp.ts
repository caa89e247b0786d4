/**
 * RESP2, the Redis protocol (redis.io, "Redis serialization protocol
 * specification"): commands written as arrays of bulk strings, replies read
 * from received bytes. Pure: no sockets (redis-connection.ts sends and
 * receives).
 *
 * Written by hand for the Redis sink's hot path: a batch is one MULTI, an XADD
 * per record and one EXEC. Through ioredis each XADD was a Command object with
 * its own promise and timers, the batch one large string built by
 * concatenation and then encoded by the socket (12% of `pgcdc run`'s CPU
 * alone), and garbage collection of all that a quarter of it
 * (docs/benchmarks.md). Here a batch is encoded straight into one Buffer and
 * its replies are counted as they arrive.
 */
import type { ByteWriter } from '../core/byte-writer.ts';
import { CdcError } from '../core/errors.ts';
import { bytesAt } from '../core/bytes.ts';

/** An error reply (`-ERR ...`, `-NOPERM ...`): a value among the replies, not a thrown error. */
export class RespError {
  readonly message: string;

  constructor(message: string) {
    this.message = message;
  }
}

/** Simple and bulk strings, integers, nil (null), arrays of replies, and error replies. */
export type RespReply = string | number | null | RespError | RespReply[];

/** Starts a command of `count` arguments; each follows with `writeBulk`. */
export function writeArrayHeader(out: ByteWriter, count: number): void {
  out.ascii('*');
  out.decimal(count);
  out.ascii('\r\n');
}

/** One argument: its length in bytes, then its bytes (UTF-8). */
export function writeBulk(out: ByteWriter, text: string): void {
  const bytes = Buffer.byteLength(text);
  out.ascii('$');
  out.decimal(bytes);
  out.ascii('\r\n');
  out.utf8(text, bytes);
  out.ascii('\r\n');
}

/** A whole command, for the few that are not on the hot path (AUTH, SELECT). */
export function writeCommand(out: ByteWriter, args: readonly string[]): void {
  writeArrayHeader(out, args.length);
  for (const arg of args) writeBulk(out, arg);
}

const CR = 0x0d;
const INCOMPLETE = Symbol('incomplete');

/**
 * Replies from the bytes received, in order. Bytes may arrive cut anywhere: a
 * reply that is not whole yet waits for the next chunk.
 */
export class RespReader {
  private pending: Buffer | undefined;

  /** Adds received bytes; returns every reply they complete. Throws on bytes that are not RESP. */
  push(chunk: Buffer): RespReply[] {
    const buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const replies: RespReply[] = [];
    let offset = 0;
    for (;;) {
      const parsed = parseReply(buffer, offset);
      if (parsed === INCOMPLETE) break;
      replies.push(parsed.reply);
      offset = parsed.end;
    }
    this.pending = offset < buffer.length ? buffer.subarray(offset) : undefined;
    return replies;
  }
}

/**
 * The reply starting at `offset`, and where it ends; INCOMPLETE when its bytes have not all arrived.
 * An EXEC of a batch answers QUEUED and then an entry id per record: lengths are
 * read from the bytes and QUEUED/OK are shared strings, so a reply costs one
 * string (its id), not three (`pgcdc run` → Redis's profile had 1.3% in these).
 */
function parseReply(buffer: Buffer, offset: number): { reply: RespReply; end: number } | typeof INCOMPLETE {
  if (offset >= buffer.length) return INCOMPLETE;
  const lineEnd = buffer.indexOf(CR, offset);
  if (lineEnd < 0 || lineEnd + 1 >= buffer.length) return INCOMPLETE;
  const type = buffer[offset]!;
  const next = lineEnd + 2;
  switch (type) {
    case 0x2b: return { reply: simpleString(buffer, offset + 1, lineEnd), end: next }; // +
    case 0x2d: return { reply: new RespError(buffer.toString('utf8', offset + 1, lineEnd)), end: next }; // -
    case 0x3a: return { reply: integerAt(buffer, offset + 1, lineEnd), end: next }; // :
    case 0x24: { // $
      const length = integerAt(buffer, offset + 1, lineEnd);
      if (length < 0) return { reply: null, end: next };
      if (next + length + 2 > buffer.length) return INCOMPLETE;
      return { reply: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case 0x2a: { // *
      const count = integerAt(buffer, offset + 1, lineEnd);
      if (count < 0) return { reply: null, end: next };
      const items: RespReply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at);
        if (item === INCOMPLETE) return INCOMPLETE;
        items.push(item.reply);
        at = item.end;
      }
      return { reply: items, end: at };
    }
    default:
      throw new CdcError('PGCDC_SINK', `not a Redis reply (it began with ${JSON.stringify(String.fromCharCode(type))})`);
  }
}

const QUEUED = Buffer.from('QUEUED');
const OK = Buffer.from('OK');

function simpleString(buffer: Buffer, start: number, end: number): string {
  if (end - start === QUEUED.length && bytesAt(buffer, start, QUEUED)) return 'QUEUED';
  if (end - start === OK.length && bytesAt(buffer, start, OK)) return 'OK';
  return buffer.toString('utf8', start, end);
}

/** A decimal integer (a length, a count or an integer reply) read from its bytes. */
function integerAt(buffer: Buffer, start: number, end: number): number {
  const negative = buffer[start] === 0x2d;
  let value = 0;
  let at = negative ? start + 1 : start;
  if (at === end || end - at > 15) throw notInteger(buffer, start, end);
  for (; at < end; at++) {
    const digit = buffer[at]! - 0x30;
    if (digit < 0 || digit > 9) throw notInteger(buffer, start, end);
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

function notInteger(buffer: Buffer, start: number, end: number): CdcError {
  return new CdcError('PGCDC_SINK', `not a Redis reply (length ${JSON.stringify(buffer.toString('utf8', start, end))})`);
}
