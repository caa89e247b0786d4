/**
 * JSON lines to a file: one record value per line, fsynced before `write`
 * resolves (so a confirmed batch survives a crash of the machine), rotated by
 * size (`path` → `path.1`, `path.2`, ...). A re-delivered batch after a crash is
 * appended again: readers deduplicate on the event id (in each line's `id`).
 *
 * A crash in the middle of a write (a killed process gets a short write, a
 * machine losing power keeps part of it) leaves a line without its newline at
 * the end. It was never confirmed (confirmation follows the fsync), so at open
 * it is cut off: appending after it would glue two records into one bad line.
 *
 * The write and the fsync run on libuv's thread pool, not on the main thread:
 * while the disk syncs, the pipeline prepares the next group (read-ahead), which
 * a blocking fsyncSync would stall.
 */
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, statSync, writev } from 'node:fs';
import { promisify } from 'node:util';
import type { OutboundRecord } from './outbound-record.ts';
import { encodeJsonLines } from './json-lines.ts';
import { SinkError, releaseWritten, type EncodedBatch, type EncodingSink } from './sink.ts';

const writevAsync = (fd: number, chunks: Buffer[]): Promise<number> =>
  new Promise((resolve, reject) => writev(fd, chunks, null, (error, written) => (error ? reject(error) : resolve(written))));
const fsyncAsync = promisify(fsync);

export interface FileSinkOptions {
  path: string;
  rotateBytes: number;
  fsync: boolean;
}

export class FileSink implements EncodingSink {
  readonly name: string;
  private readonly options: FileSinkOptions;
  /** Undefined while open only after a failed rotation: the next write reopens it. */
  private fd: number | undefined;
  private opened = false;
  private size = 0;

  constructor(options: FileSinkOptions) {
    this.options = options;
    this.name = `file ${options.path}`;
  }

  async open(): Promise<void> {
    try {
      this.size = repairTornTail(this.options.path);
      this.fd = openSync(this.options.path, 'a', 0o640);
      this.opened = true;
    } catch (error) {
      throw new SinkError(`cannot open ${this.options.path} for appending: ${(error as Error).message}; check the sink path`, { retriable: false, cause: error });
    }
  }

  async write(records: OutboundRecord[]): Promise<void> {
    await this.writeEncoded([this.encode(records)]);
  }

  /** A batch's lines, encoded when the batch is prepared (sink.ts says why). */
  encode(records: OutboundRecord[]): EncodedBatch {
    return encodeJsonLines(records);
  }

  async writeEncoded(batches: EncodedBatch[]): Promise<void> {
    if (!this.opened) throw new SinkError('file sink is not open', { retriable: false });
    // The group's batches go out in one writev, as they are: joining them first
    // cost a copy of the whole group (up to megabytes) per write.
    let chunks = batches.map((b) => b.bytes).filter((bytes) => bytes.length > 0);
    let length = 0;
    for (const chunk of chunks) length += chunk.length;
    if (length === 0) return;
    try {
      if (this.fd === undefined) this.reopen();
      if (this.options.rotateBytes > 0 && this.size > 0 && this.size + length > this.options.rotateBytes) this.rotate();
      const fd = this.fd!;
      for (;;) {
        const written = await writevAsync(fd, chunks);
        chunks = afterWritten(chunks, written);
        if (chunks.length === 0) break;
      }
      if (this.options.fsync) await fsyncAsync(fd);
      this.size += length;
      // Only now: a failed fsync is retried with these same bytes.
      releaseWritten(batches);
    } catch (error) {
      // A retry appends the whole group again: cut what part of it was written (a torn line otherwise).
      try { if (this.fd !== undefined) ftruncateSync(this.fd, this.size); } catch { /* the retry's open or write will report it */ }
      throw new SinkError(`cannot write ${this.options.path}: ${(error as Error).message}`, { retriable: true, cause: error });
    }
  }

  /**
   * path → path.1 (and path.1 → path.2, ...), then a new, empty path. The file
   * is reopened whatever happens: a rename that fails (a full or read-only
   * directory) leaves the current file in place, and the write that asked for
   * the rotation fails retriably and tries again, rather than every retry meeting
   * a closed descriptor, or another file's descriptor reusing its number.
   */
  private rotate(): void {
    const fd = this.fd!;
    this.fd = undefined;
    closeSync(fd);
    try {
      let n = 1;
      while (existsSync(`${this.options.path}.${n}`)) n++;
      for (let i = n; i > 1; i--) renameSync(`${this.options.path}.${i - 1}`, `${this.options.path}.${i}`);
      renameSync(this.options.path, `${this.options.path}.1`);
    } finally {
      this.reopen();
    }
  }

  /** Opens the path for appending again; its current size is where the next write starts. */
  private reopen(): void {
    this.fd = openSync(this.options.path, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
  }

  async close(): Promise<void> {
    this.opened = false;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Cuts an unterminated last line (an unconfirmed, torn write) off the file, if
 * any; returns the file's size afterwards (0 when it does not exist).
 */
export function repairTornTail(path: string): number {
  if (!existsSync(path)) return 0;
  const size = statSync(path).size;
  if (size === 0) return 0;
  const fd = openSync(path, 'r+');
  try {
    const block = Buffer.alloc(64 * 1024);
    let end = size;
    // Find the last newline, reading backwards.
    while (end > 0) {
      const start = Math.max(0, end - block.length);
      const length = readSync(fd, block, 0, end - start, start);
      const last = block.subarray(0, length).lastIndexOf(10);
      if (last >= 0) {
        const keep = start + last + 1;
        if (keep < size) {
          ftruncateSync(fd, keep);
          fsyncSync(fd);
        }
        return keep;
      }
      end = start;
    }
    ftruncateSync(fd, 0);
    fsyncSync(fd);
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** What is left of `chunks` once the first `written` bytes went out (a short write leaves a part of one). */
export function afterWritten(chunks: Buffer[], written: number): Buffer[] {
  let at = 0;
  while (at < chunks.length && written >= chunks[at]!.length) written -= chunks[at++]!.length;
  if (at === chunks.length) return [];
  const rest = chunks.slice(at);
  rest[0] = rest[0]!.subarray(written);
  return rest;
}
