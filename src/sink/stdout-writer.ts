/**
 * Writes lines to a file descriptor (stdout) in large blocking writes. A batch
 * counts as confirmed once `write` returns: the bytes are in the kernel's hands.
 * Blocking writes on fd 1 are used rather than `process.stdout` because the
 * latter may queue data that is lost at exit when stdout is a pipe.
 */
import { fsyncSync, openSync, writeSync } from 'node:fs';
import { CdcError } from '../core/errors.ts';
import { writeUtf8 } from '../core/byte-writer.ts';
import { giveBack } from '../core/buffer-pool.ts';
import { encodeLines } from './json-lines.ts';

export class FdWriter {
  private readonly fd: number;
  /** Set when the reader went away (EPIPE): stop producing, confirm nothing more. */
  closed = false;

  private readonly sync: boolean;

  /** @param sync fsync after each write (files whose content must survive a crash) */
  constructor(fd = 1, sync = false) {
    this.fd = fd;
    this.sync = sync;
  }

  /**
   * Reused for each write's bytes: the writes are synchronous, so it is free
   * again when `write` returns. A new Buffer per batch cost three times as much
   * (the allocation, and external memory for the collector to free).
   */
  private scratch: Buffer = Buffer.alloc(0);

  /** Writes all of `text`; returns false if the reader has gone away. */
  write(text: string): boolean {
    if (this.closed) return false;
    return this.writeBytes(this.encode(text));
  }

  /** Writes each of `lines` followed by a newline, in one write (`encodeLines`); returns false if the reader has gone away. */
  writeLines(lines: readonly string[]): boolean {
    if (this.closed) return false;
    const bytes = encodeLines(lines, asIs);
    try {
      return this.writeBytes(bytes);
    } finally {
      giveBack(bytes); // the write is synchronous: the kernel has the bytes
    }
  }

  /** Writes all of `buffer`; returns false if the reader has gone away. */
  writeBytes(buffer: Buffer): boolean {
    if (this.closed) return false;
    let offset = 0;
    while (offset < buffer.length) {
      try {
        offset += writeSync(this.fd, buffer, offset, buffer.length - offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          // Someone made fd non-blocking: wait 1 ms and retry.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
          continue;
        }
        if (code === 'EPIPE') {
          this.closed = true;
          return false;
        }
        throw new CdcError('PGCDC_OUTPUT', `cannot write output: ${(error as Error).message}`, { cause: error });
      }
    }
    if (this.sync) fsyncSync(this.fd);
    return true;
  }

  /** `text` as UTF-8, in the scratch buffer when it fits. */
  private encode(text: string): Buffer {
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_SCRATCH_BYTES) return Buffer.from(text, 'utf8');
    if (this.scratch.length < bytes) this.scratch = Buffer.allocUnsafe(Math.max(bytes, 64 * 1024));
    return this.scratch.subarray(0, writeUtf8(this.scratch, text, 0, bytes));
  }
}

/** Larger writes get their own Buffer rather than a scratch buffer kept that large. */
const MAX_SCRATCH_BYTES = 4 * 1024 * 1024;

/** A writer that appends to a file (dead letters); each write is fsynced before it returns. */
export function openAppendWriter(path: string): FdWriter {
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o640);
  } catch (error) {
    throw new CdcError('PGCDC_OUTPUT', `cannot open ${path} for appending: ${(error as Error).message}`, { cause: error });
  }
  return new FdWriter(fd, true);
}

const asIs = (line: string): string => line;
