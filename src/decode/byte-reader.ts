import { ProtocolError } from '../core/errors.ts';
import type { Lsn } from '../core/lsn.ts';

/**
 * A bounds-checked cursor over one protocol message. Every read checks that the
 * bytes are there and throws a `ProtocolError` with the offset otherwise, so
 * truncated input is an error, never a crash or a silently wrong value.
 *
 * Hand-written (not a library) because it is the innermost loop of decoding:
 * one reader is reused for every message (`reset`) and reads go straight to the
 * Buffer's native accessors.
 *
 * Buffer ownership: `bytes()` returns a copy, strings are decoded copies, so
 * nothing returned keeps the socket buffer alive or changes when it is reused.
 */
export class ByteReader {
  private buffer: Buffer = Buffer.alloc(0);
  private end = 0;
  /** Offset of the next byte to read. */
  offset = 0;
  /** The message tag, for error messages. */
  tag: string | undefined;

  reset(buffer: Buffer, start = 0, end = buffer.length, tag?: string): this {
    this.buffer = buffer;
    this.offset = start;
    this.end = end;
    this.tag = tag;
    return this;
  }

  /** Drops the reference to the last buffer so it can be collected. */
  release(): void {
    this.buffer = EMPTY;
    this.offset = 0;
    this.end = 0;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number, what: string): number {
    const at = this.offset;
    if (at + n > this.end) {
      throw new ProtocolError(`truncated ${what}: needs ${n} bytes, ${this.end - at} left`, at, this.tag);
    }
    this.offset = at + n;
    return at;
  }

  uint8(what = 'Int8'): number {
    return this.buffer[this.need(1, what)]!;
  }

  char(what = 'Byte1'): string {
    return String.fromCharCode(this.uint8(what));
  }

  int16(what = 'Int16'): number {
    return this.buffer.readInt16BE(this.need(2, what));
  }

  uint32(what = 'Int32'): number {
    return this.buffer.readUInt32BE(this.need(4, what));
  }

  int32(what = 'Int32'): number {
    return this.buffer.readInt32BE(this.need(4, what));
  }

  /** Unsigned 64-bit. */
  uint64(what = 'Int64'): bigint {
    return this.buffer.readBigUInt64BE(this.need(8, what));
  }

  /** A WAL position (unsigned 64-bit). */
  lsn(what = 'LSN'): Lsn {
    return this.buffer.readBigUInt64BE(this.need(8, what)) as Lsn;
  }

  /** Signed 64-bit (timestamps). */
  int64(what = 'Int64'): bigint {
    return this.buffer.readBigInt64BE(this.need(8, what));
  }

  /** A NUL-terminated UTF-8 string (the protocol's `String`). */
  cstring(what = 'String'): string {
    const start = this.offset;
    const nul = this.buffer.indexOf(0, start);
    if (nul < 0 || nul >= this.end) {
      throw new ProtocolError(`unterminated ${what}`, start, this.tag);
    }
    this.offset = nul + 1;
    return this.buffer.toString('utf8', start, nul);
  }

  /** `n` bytes decoded as UTF-8. */
  utf8(n: number, what = 'text'): string {
    const at = this.need(n, what);
    return this.buffer.toString('utf8', at, at + n);
  }

  /** A copy of `n` bytes. */
  bytes(n: number, what = 'Byten'): Buffer {
    const at = this.need(n, what);
    return Buffer.from(this.buffer.subarray(at, at + n));
  }

  /** Throws unless every byte of the message was consumed. */
  expectEnd(): void {
    if (this.offset !== this.end) {
      throw new ProtocolError(`${this.end - this.offset} unexpected trailing bytes`, this.offset, this.tag);
    }
  }
}

const EMPTY = Buffer.alloc(0);
