/**
 * Disk overflow for transactions larger than the memory budget, read back in
 * order after the commit.
 *
 * Written by hand, in a binary record format, because this is the hot path of
 * every large transaction. A row change that is still its pgoutput bytes
 * (row-change.ts) is spilled as those bytes plus a small header, and is decoded
 * when it is read back, exactly as an in-memory change is when its transaction
 * is handed on. The earlier format (converted rows as JSON lines) converted
 * every row once to write it and parsed it again to read it, and the line
 * strings that waited for a write lived long enough to be promoted: a
 * 2,000,000-row transaction grew the heap to about 200 MB although the budget
 * was 64 MiB (docs/benchmarks.md, Scale). Other items (messages, truncates,
 * text-plugin rows) are JSON; numbers keep their exact digits (core/json.ts).
 *
 * Record: kind (u8) · body length (u32) · body.
 *   row   body: op (u8 'c'|'u'|'d') · relation index (u32) · xid (u32) · lsn (u64) · in stream (u8) · pgoutput message
 *   json  body: UTF-8 JSON of the item, its column list as an index
 *
 * Writes are synchronous: spilling happens on the decode path, which must not
 * reorder items, and only for transactions past the budget.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdcError } from '../core/errors.ts';
import { lsn, type Lsn } from '../core/lsn.ts';
import { parseRoundTrip, stringifyRoundTrip, type JsonObject } from '../core/json.ts';
import type { PendingItem } from './pending-item.ts';
import { materialize, type DeferredRowChange } from './row-change.ts';

const KIND_ROW = 1;
const KIND_JSON = 2;
const RECORD_HEADER = 5;
const ROW_HEADER = 18;
/** Bytes gathered before one write; small enough that they are written before they age. */
const WRITE_BUFFER_BYTES = 256 * 1024;
/**
 * Bytes per read back; each read is a fresh buffer that read-back rows keep
 * views of until they are converted. Small enough that a buffer's rows are
 * converted and written within a young-generation cycle, so it dies young: at
 * 1 MiB a buffer held 12,000 rows, outlived several collections, was promoted,
 * and waited for a full collection with its 1 MiB (50 of them at once in a
 * 2,000,000-row transaction; docs/benchmarks.md).
 */
const READ_BYTES = 64 * 1024;

/** What a spilled row needs besides its bytes, kept once per relation version instead of on every record. */
interface SpilledRelation {
  relation: DeferredRowChange['relation'];
  toastPlaceholder: string;
}

export class SpillFile {
  private readonly dir: string;
  readonly path: string;
  private fd: number | undefined;
  private readonly writeBuffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private written = 0;
  count = 0;
  private readonly relations: SpilledRelation[] = [];
  /** Column lists of JSON items, kept here (one per relation version) rather than on every line. */
  private readonly columnSets: Array<PendingItem['columns']> = [];

  constructor(parentDir: string = tmpdir()) {
    try {
      this.dir = mkdtempSync(join(parentDir, 'pgcdc-spill-'));
      this.path = join(this.dir, 'items.bin');
      this.fd = openSync(this.path, 'w', 0o600);
    } catch (error) {
      throw new CdcError('PGCDC_SPILL_IO', `cannot create a spill file in ${parentDir}: ${(error as Error).message}; set source.spillDir (pgcdc run), --spill-dir (pgcdc tail) or TMPDIR to a writable directory`, { cause: error });
    }
  }

  append(item: PendingItem): void {
    this.count++;
    const deferred = item.deferred;
    if (deferred !== undefined && item.lsn !== undefined) {
      this.appendRow(item, deferred, item.lsn);
      return;
    }
    // Only a row still as bytes with no position would get here unconverted (the stream always gives one).
    if (deferred !== undefined) item = materialize(item);
    let columns = this.columnSets.indexOf(item.columns);
    if (columns < 0) columns = this.columnSets.push(item.columns) - 1;
    const json = Buffer.from(stringifyRoundTrip({ ...item, lsn: item.lsn?.toString(), columns }), 'utf8');
    this.reserve(RECORD_HEADER + json.length);
    this.writeBuffer.writeUInt8(KIND_JSON, this.written);
    this.writeBuffer.writeUInt32LE(json.length, this.written + 1);
    this.written += RECORD_HEADER;
    this.put(json, 0, json.length);
  }

  private appendRow(item: PendingItem, deferred: DeferredRowChange, position: Lsn): void {
    const bytes = deferred.end - deferred.start;
    this.reserve(RECORD_HEADER + ROW_HEADER + Math.min(bytes, WRITE_BUFFER_BYTES - RECORD_HEADER - ROW_HEADER));
    const b = this.writeBuffer;
    let at = this.written;
    b.writeUInt8(KIND_ROW, at);
    b.writeUInt32LE(ROW_HEADER + bytes, at + 1);
    at += RECORD_HEADER;
    b.writeUInt8(item.op.charCodeAt(0), at);
    b.writeUInt32LE(this.relationIndex(deferred), at + 1);
    b.writeUInt32LE(item.xid >>> 0, at + 5);
    b.writeBigUInt64LE(position, at + 9);
    b.writeUInt8(deferred.inStream ? 1 : 0, at + 17);
    this.written = at + ROW_HEADER;
    this.put(deferred.buffer, deferred.start, deferred.end);
  }

  private relationIndex(deferred: DeferredRowChange): number {
    for (let i = this.relations.length - 1; i >= 0; i--) {
      const known = this.relations[i]!;
      if (known.relation === deferred.relation && known.toastPlaceholder === deferred.toastPlaceholder) return i;
    }
    return this.relations.push({ relation: deferred.relation, toastPlaceholder: deferred.toastPlaceholder }) - 1;
  }

  /** Makes room for `bytes` in the write buffer (at most its size). */
  private reserve(bytes: number): void {
    if (this.written + Math.min(bytes, WRITE_BUFFER_BYTES) > WRITE_BUFFER_BYTES) this.flush();
  }

  /** Copies `source[start, end)` into the file, through the write buffer. */
  private put(source: Buffer, start: number, end: number): void {
    if (end - start > WRITE_BUFFER_BYTES - this.written) {
      this.flush();
      this.writeOut(source.subarray(start, end));
      return;
    }
    this.written += source.copy(this.writeBuffer, this.written, start, end);
  }

  private flush(): void {
    if (this.written === 0) return;
    this.writeOut(this.writeBuffer.subarray(0, this.written));
    this.written = 0;
  }

  private writeOut(bytes: Buffer): void {
    if (this.fd === undefined) return;
    try {
      for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done, bytes.length - done);
    } catch (error) {
      throw new CdcError('PGCDC_SPILL_IO', `cannot write spill file ${this.path}: ${(error as Error).message}; free disk space, or set source.spillDir (pgcdc run), --spill-dir (pgcdc tail) or TMPDIR to another directory`, { cause: error });
    }
  }

  /**
   * Reads the items back in order, in chunks of `chunkSize` items or
   * `chunkBytes` of records, skipping those `drop` rejects, the last chunk marked (it may be empty). Row changes come back
   * still as bytes (materialize converts them).
   */
  async *read(chunkSize: number, chunkBytes: number, drop: (item: PendingItem) => boolean): AsyncGenerator<{ items: PendingItem[]; last: boolean }> {
    this.flush();
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined; }
    const file = await open(this.path, 'r');
    try {
      let chunk: PendingItem[] = [];
      let buffer: Buffer = Buffer.alloc(0);
      let at = 0;
      let bytes = 0;
      let lastYielded = false;
      for (let seen = 0; seen < this.count;) {
        if (buffer.length - at < RECORD_HEADER || buffer.length - at < RECORD_HEADER + buffer.readUInt32LE(at + 1)) {
          buffer = await this.readMore(file, buffer, at);
          at = 0;
          continue;
        }
        const length = buffer.readUInt32LE(at + 1);
        const body = at + RECORD_HEADER;
        const item = buffer[at] === KIND_ROW ? this.rowItem(buffer, body, body + length) : this.jsonItem(buffer, body, body + length);
        at = body + length;
        seen++;
        if (drop(item)) continue;
        chunk.push(item);
        bytes += length;
        if (chunk.length >= chunkSize || bytes >= chunkBytes) {
          lastYielded = seen === this.count;
          yield { items: chunk, last: lastYielded };
          chunk = [];
          bytes = 0;
        }
      }
      // What is left, or nothing when the records after the last full chunk were all dropped.
      if (!lastYielded) yield { items: chunk, last: true };
    } finally {
      await file.close();
    }
  }

  /** A fresh buffer holding the unread rest of `buffer` and as much more of the file as fits (at least one whole record). */
  private async readMore(file: Awaited<ReturnType<typeof open>>, buffer: Buffer, at: number): Promise<Buffer> {
    const rest = buffer.length - at;
    const needed = rest >= RECORD_HEADER ? RECORD_HEADER + buffer.readUInt32LE(at + 1) : RECORD_HEADER;
    const next = Buffer.allocUnsafe(Math.max(READ_BYTES, needed));
    buffer.copy(next, 0, at);
    let filled = rest;
    while (filled < needed) {
      const { bytesRead } = await file.read(next, filled, next.length - filled, null);
      if (bytesRead === 0) throw new CdcError('PGCDC_SPILL_IO', `spill file ${this.path} ended early (${filled} of ${needed} bytes of a record); was it changed by another process?`);
      filled += bytesRead;
    }
    return next.subarray(0, filled);
  }

  private rowItem(buffer: Buffer, start: number, end: number): PendingItem {
    const spilled = this.relations[buffer.readUInt32LE(start + 1)]!;
    const message = spilled.relation.message;
    const deferred: DeferredRowChange = {
      relation: spilled.relation,
      buffer,
      start: start + ROW_HEADER,
      end,
      inStream: buffer[start + 17] === 1,
      toastPlaceholder: spilled.toastPlaceholder,
    };
    return {
      op: String.fromCharCode(buffer[start]!) as 'c' | 'u' | 'd',
      schema: message.namespace,
      table: message.name,
      columns: message.columns,
      before: null,
      after: null,
      key: null,
      message: undefined,
      lsn: lsn(buffer.readBigUInt64LE(start + 9)),
      xid: buffer.readUInt32LE(start + 5),
      deferred,
    };
  }

  private jsonItem(buffer: Buffer, start: number, end: number): PendingItem {
    const parsed = parseRoundTrip(buffer.toString('utf8', start, end)) as JsonObject & { lsn?: string; columns: number };
    const item = { ...parsed, lsn: parsed.lsn === undefined ? undefined : lsn(BigInt(parsed.lsn)), columns: this.columnSets[parsed.columns] } as unknown as PendingItem;
    if (item.message === null) item.message = undefined;
    return item;
  }

  dispose(): void {
    if (this.fd !== undefined) { try { closeSync(this.fd); } catch { /* already closed */ } this.fd = undefined; }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
