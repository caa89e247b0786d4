/**
 * The items of one open transaction: in memory until the shared budget is
 * exceeded, then on disk. Also keeps the transaction's transactional messages in
 * memory (they are small and transforms such as the audit enricher need them
 * before the first change is handed on).
 */
import type { PendingItem } from './pending-item.ts';
import { SpillFile } from './spill-file.ts';

/**
 * A chunk of a transaction ends at this many bytes of pgoutput rows, whatever
 * its count: a chunk's events must be built, written and dropped within one
 * young-generation cycle (8 MiB of allocation with bin/pgcdc.js's flags), and
 * wide rows allocate more per event. 256 KiB is about 2,800 six-column rows or
 * 500 W1 rows; the chunk size (250) ends chunks of narrow rows first.
 */
const CHUNK_PAYLOAD_BYTES = 256 * 1024;

function payloadBytes(item: PendingItem): number {
  return item.deferred === undefined ? 0 : item.deferred.end - item.deferred.start;
}

/** Items of a transaction in order; `last` on its final chunk (which may be empty). */
export interface ItemChunk {
  items: PendingItem[];
  last: boolean;
}

export interface MemoryBudget {
  /** Estimated bytes held in memory by all open transactions. */
  used: number;
  /**
   * The most `used` has been: measured as each change is added, so one change may
   * take it past `limit`, just before the spill that change starts.
   */
  peak: number;
  readonly limit: number;
  readonly spillDir: string | undefined;
}

export class TransactionBuffer {
  private items: PendingItem[] = [];
  private spill: SpillFile | undefined;
  private memoryBytes = 0;
  private readonly abortedSubXids = new Set<number>();
  readonly messages: PendingItem[] = [];
  count = 0;

  readonly xid: number;
  private readonly budget: MemoryBudget;

  constructor(xid: number, budget: MemoryBudget) {
    this.xid = xid;
    this.budget = budget;
  }

  add(item: PendingItem, estimatedBytes: number): void {
    this.count++;
    if (item.message !== undefined) this.messages.push(item);
    if (this.spill !== undefined) {
      this.spill.append(item);
      return;
    }
    this.items.push(item);
    this.memoryBytes += estimatedBytes;
    this.budget.used += estimatedBytes;
    if (this.budget.used > this.budget.peak) this.budget.peak = this.budget.used;
    if (this.budget.used > this.budget.limit) this.spillToDisk();
  }

  private spillToDisk(): void {
    const spill = new SpillFile(this.budget.spillDir);
    for (const item of this.items) spill.append(item);
    this.spill = spill;
    this.items = [];
    this.budget.used -= this.memoryBytes;
    this.memoryBytes = 0;
  }

  /** A subtransaction aborted (streamed transactions): its items are dropped. */
  abortSubtransaction(subXid: number): void {
    this.abortedSubXids.add(subXid);
    if (this.spill === undefined) {
      const kept = this.items.filter((i) => i.xid !== subXid);
      this.count -= this.items.length - kept.length;
      this.items = kept;
    }
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.xid === subXid) this.messages.splice(i, 1);
  }

  /**
   * The items in order, in chunks, from disk if spilled, each chunk saying
   * whether it is the last. Rows are still their pgoutput bytes: the caller
   * converts a chunk (`materialize`) just before it builds its events, and knows
   * the last chunk without reading the next one, so no chunk's events wait for
   * another chunk's to be built (transaction-chunks.ts).
   */
  async *chunks(chunkSize: number): AsyncGenerator<ItemChunk> {
    if (this.spill === undefined) {
      // Handed on once: the buffer lets go of each chunk as it is taken, so the
      // rows converted from it die with its events, not with the transaction.
      const items = this.items;
      this.items = [];
      let start = 0;
      do {
        let end = start;
        let bytes = 0;
        while (end < items.length && end - start < chunkSize && bytes < CHUNK_PAYLOAD_BYTES) bytes += payloadBytes(items[end++]!);
        const chunk = items.slice(start, end);
        items.fill(undefined!, start, end);
        start = end;
        yield { items: chunk, last: end >= items.length };
      } while (start < items.length);
      return;
    }
    const aborted = this.abortedSubXids;
    yield* this.spill.read(chunkSize, CHUNK_PAYLOAD_BYTES, (item) => aborted.has(item.xid));
  }

  /** Frees memory and removes the spill file. Idempotent. */
  dispose(): void {
    this.budget.used -= this.memoryBytes;
    this.memoryBytes = 0;
    this.items = [];
    this.spill?.dispose();
    this.spill = undefined;
  }
}
