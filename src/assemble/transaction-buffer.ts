/**
 * The items of one open transaction: in memory until the shared budget is
 * exceeded, then on disk. Also keeps the transaction's transactional messages in
 * memory (they are small and transforms such as the audit enricher need them
 * before the first change is handed on).
 */
import type { PendingItem } from './pending-item.ts';
import { SpillFile } from './spill-file.ts';
import { materialize } from './row-change.ts';

export interface MemoryBudget {
  /** Estimated bytes held in memory by all open transactions. */
  used: number;
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

  /** The items in order, in chunks, converted (deferred rows are materialised here); from disk if spilled. */
  async *chunks(chunkSize: number): AsyncGenerator<PendingItem[]> {
    if (this.spill === undefined) {
      for (let i = 0; i < this.items.length; i += chunkSize) {
        const chunk = this.items.slice(i, i + chunkSize);
        for (const item of chunk) materialize(item);
        yield chunk;
      }
      return;
    }
    const aborted = this.abortedSubXids;
    for await (const chunk of this.spill.read(chunkSize, (item) => aborted.has(item.xid))) {
      for (const item of chunk) materialize(item);
      yield chunk;
    }
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
