/**
 * One Buffer built from many strings, each encoded straight into it.
 *
 * Written by hand for the sinks' hot path (the file and NATS sinks encode every
 * record through it). Joining a batch's strings and then `Buffer.from` of the
 * result builds a second copy of the batch as one large string, scans it once
 * more, and leaves that string to the garbage collector; measuring each value
 * with `Buffer.byteLength` before writing it (NATS frames carry their length
 * first) scans every value twice. Here each string is encoded once, and a
 * length that must precede the bytes it counts is filled in afterwards
 * (`reserveNumber` / `fillNumber`).
 */
import { giveBack, takeBuffer } from './buffer-pool.ts';

/** Longer text is measured, then copied (ByteWriter.utf8). */
const DIRECT_UTF8_MAX_CHARS = 8192;

export class ByteWriter {
  private buffer: Buffer;
  /** Bytes written so far. */
  length = 0;
  /** The memory comes from the buffer pool, and goes back to it once the bytes are written (buffer-pool.ts). */
  private readonly pooled: boolean;

  /**
   * `capacity`: the expected size; the buffer grows when it is not enough.
   * `pooled`: for a sink's batch, whose bytes are given back (`releaseWritten`) once confirmed.
   */
  constructor(capacity: number, options?: { pooled: boolean }) {
    this.pooled = options?.pooled === true;
    this.buffer = this.pooled ? takeBuffer(Math.max(64, capacity)) : Buffer.allocUnsafeSlow(Math.max(64, capacity));
  }

  /**
   * Text that is ASCII by construction (protocol words, digits): one byte per
   * character. Short text is stored a byte at a time: a call into Buffer.write
   * costs more than the loop for the few bytes of a protocol word, and the
   * Redis sink writes a dozen of them per record.
   */
  ascii(text: string): void {
    if (this.buffer.length - this.length < text.length) this.grow(text.length);
    if (text.length > 16) {
      this.length += this.buffer.write(text, this.length, 'latin1');
      return;
    }
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /** A non-negative integer in decimal digits. */
  decimal(value: number): void {
    if (value < 10) {
      if (this.buffer.length === this.length) this.grow(1);
      this.buffer[this.length++] = 0x30 + value;
      return;
    }
    this.ascii(String(value));
  }

  /** Any text, as UTF-8 (`bytes`: its Buffer.byteLength, when the caller knows it). Returns the number of bytes written. */
  utf8(text: string, bytes?: number): number {
    // A record's value, id or key: encoded straight into room for its worst case
    // (3 bytes per UTF-16 unit). Measuring it first (Buffer.byteLength) cost more
    // than writing it: 139 against 99 ns for a 670-byte W1 event on Node 24, and
    // `pgcdc run` → NATS spent 4.5% less CPU per change without it (three
    // alternating pairs). Long text keeps the measure-then-copy path (writeUtf8):
    // for a batch joined into one string, V8's UTF-8 writer took twice as long.
    // Near the end of a buffer sized for the batch, the text is measured instead
    // (growing for the worst case would copy the batch for nothing).
    if (bytes === undefined && text.length <= DIRECT_UTF8_MAX_CHARS && this.buffer.length - this.length >= text.length * 3) {
      const written = this.buffer.write(text, this.length, 'utf8');
      this.length += written;
      return written;
    }
    bytes ??= Buffer.byteLength(text);
    if (this.buffer.length - this.length < bytes) this.grow(bytes);
    this.length += writeUtf8(this.buffer, text, this.length, bytes);
    return bytes;
  }

  bytes(chunk: Uint8Array): void {
    if (this.buffer.length - this.length < chunk.length) this.grow(chunk.length);
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }

  /** Room for a decimal number of up to `width` digits, filled in later by `fillNumber`; returns its offset. */
  reserveNumber(width: number): number {
    if (this.buffer.length - this.length < width) this.grow(width);
    const offset = this.length;
    // A loop, not Buffer.fill: a call into C++ for a few bytes cost 1% of `pgcdc run` → NATS (two per record).
    for (let i = offset; i < offset + width; i++) this.buffer[i] = 0x20;
    this.length += width;
    return offset;
  }

  /** Writes `value` right-aligned into reserved room (leading spaces stay: the protocols using this skip them). */
  fillNumber(offset: number, width: number, value: number): void {
    let at = offset + width - 1;
    do {
      this.buffer[at--] = 0x30 + (value % 10);
      value = Math.floor(value / 10);
    } while (value > 0 && at >= offset);
  }

  /** One byte (binary protocols: AMQP). */
  uint8(value: number): void {
    if (this.buffer.length === this.length) this.grow(1);
    this.buffer[this.length++] = value;
  }

  /** Big-endian, as network protocols order their integers. */
  uint16(value: number): void {
    if (this.buffer.length - this.length < 2) this.grow(2);
    this.buffer.writeUInt16BE(value, this.length);
    this.length += 2;
  }

  uint32(value: number): void {
    if (this.buffer.length - this.length < 4) this.grow(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
  }

  /** A 64-bit big-endian unsigned integer from a safe integer (timestamps, sizes). */
  uint64(value: number): void {
    this.uint32(Math.floor(value / 0x1_0000_0000));
    this.uint32(value >>> 0);
  }

  /** Room for a 32-bit length that precedes the bytes it counts, filled in later by `fillUint32`; returns its offset. */
  reserveUint32(): number {
    const offset = this.length;
    this.uint32(0);
    return offset;
  }

  fillUint32(offset: number, value: number): void {
    this.buffer.writeUInt32BE(value, offset);
  }

  /** Cuts back to `length` bytes (drops what was written after it). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  /** The bytes written: a view of the buffer, which the writer must not be used after. */
  finish(): Buffer {
    // Keep a much larger backing buffer alive for the whole wait at the sink? Copy
    // instead; unless it is pooled: then it is used again once the bytes are written.
    if (!this.pooled && this.length < this.buffer.length / 2) return Buffer.from(this.buffer.subarray(0, this.length));
    return this.buffer.subarray(0, this.length);
  }

  private grow(needed: number): void {
    const size = Math.max(this.buffer.length * 2, this.length + needed);
    const next = this.pooled ? takeBuffer(size) : Buffer.allocUnsafeSlow(size);
    this.buffer.copy(next, 0, 0, this.length);
    if (this.pooled) giveBack(this.buffer);
    this.buffer = next;
  }
}

/**
 * Writes `text` as UTF-8 at `offset` (`bytes`: its `Buffer.byteLength`, which
 * the caller needed anyway to make room). ASCII text, the usual case for JSON
 * events, is copied a byte per character: V8's UTF-8 encoder took 0.5 ns per
 * byte, 5% of `tail`'s CPU; measuring first (simdutf) and copying costs a
 * third of that. Returns the bytes written.
 */
export function writeUtf8(target: Buffer, text: string, offset: number, bytes: number): number {
  return bytes === text.length ? target.write(text, offset, 'latin1') : target.write(text, offset, 'utf8');
}
