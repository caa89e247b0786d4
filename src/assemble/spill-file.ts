/**
 * Disk overflow for transactions larger than the memory budget. Items are
 * appended as JSON lines and read back in order after the commit. Numbers keep
 * their exact digits across the round trip (core/json.ts).
 *
 * Writes are synchronous: spilling happens on the decode path, which must not
 * reorder items, and only for transactions past the budget.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLines } from '../core/read-lines.ts';
import { CdcError } from '../core/errors.ts';
import { parseRoundTrip, stringifyRoundTrip, type JsonObject } from '../core/json.ts';
import type { PendingItem } from './pending-item.ts';

export class SpillFile {
  private readonly dir: string;
  readonly path: string;
  private fd: number | undefined;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  count = 0;
  /** Column lists of the spilled items, kept here (one per relation version) rather than on every line. */
  private readonly columnSets: Array<PendingItem['columns']> = [];

  constructor(parentDir: string = tmpdir()) {
    try {
      this.dir = mkdtempSync(join(parentDir, 'pgcdc-spill-'));
      this.path = join(this.dir, 'items.jsonl');
      this.fd = openSync(this.path, 'w', 0o600);
    } catch (error) {
      throw new CdcError('PGCDC_SPILL_IO', `cannot create a spill file in ${parentDir}: ${(error as Error).message}; set a writable spill directory`, { cause: error });
    }
  }

  append(item: PendingItem): void {
    let columns = this.columnSets.indexOf(item.columns);
    if (columns < 0) columns = this.columnSets.push(item.columns) - 1;
    const line = stringifyRoundTrip({ ...item, lsn: item.lsn?.toString(), columns });
    this.buffered.push(line);
    this.bufferedBytes += line.length;
    this.count++;
    if (this.bufferedBytes >= 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buffered.length === 0 || this.fd === undefined) return;
    try {
      writeSync(this.fd, this.buffered.join('\n') + '\n');
    } catch (error) {
      throw new CdcError('PGCDC_SPILL_IO', `cannot write spill file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  /** Reads the items back in order, `chunkSize` at a time, skipping those `drop` rejects. */
  async *read(chunkSize: number, drop: (item: PendingItem) => boolean): AsyncGenerator<PendingItem[]> {
    this.flush();
    if (this.fd !== undefined) { closeSync(this.fd); this.fd = undefined; }
    let chunk: PendingItem[] = [];
    for await (const line of readLines(this.path)) {
      if (line === '') continue;
      const parsed = parseRoundTrip(line) as JsonObject & { lsn?: string; columns: number };
      const item = { ...parsed, lsn: parsed.lsn === undefined ? undefined : BigInt(parsed.lsn), columns: this.columnSets[parsed.columns] } as unknown as PendingItem;
      if (item.message === null) item.message = undefined;
      if (drop(item)) continue;
      chunk.push(item);
      if (chunk.length >= chunkSize) { yield chunk; chunk = []; }
    }
    if (chunk.length > 0) yield chunk;
  }

  dispose(): void {
    if (this.fd !== undefined) { try { closeSync(this.fd); } catch { /* already closed */ } this.fd = undefined; }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
