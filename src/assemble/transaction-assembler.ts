/**
 * Decoded pgoutput messages → committed transactions and non-transactional messages.
 *
 * Rules (docs/lsn-and-acks.md has the reasoning):
 * - Nothing of a transaction is handed on before its Commit (or Stream Commit).
 *   A Stream Abort drops the transaction, or just the aborted subtransaction.
 * - Non-transactional logical messages are handed on as soon as they are decoded,
 *   wherever they appear, so they survive rollbacks.
 * - Rows wait as their pgoutput bytes and are converted when handed on
 *   (row-change.ts), but always against the Relation in force where they arrived
 *   in the stream, so a later ALTER TABLE cannot change how an earlier row reads.
 * - Memory is bounded by a shared budget; a transaction past it spills to disk.
 */
import { ProtocolError } from '../core/errors.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import { postgresMicrosToUnixMs } from '../core/time.ts';
import type { ColumnType, MessageBody } from '../core/change-types.ts';
import type { LogicalMessage, PgOutputMessage, RelationMessage } from '../decode/pgoutput/messages.ts';
import type { RowChangeHeader } from '../decode/pgoutput/decode.ts';
import type { PendingItem } from './pending-item.ts';
import type { RelationCache } from './relation-cache.ts';
import { TransactionBuffer, type MemoryBudget } from './transaction-buffer.ts';
import { rowChange, type DeferredRowChange } from './row-change.ts';

export interface CommittedTransaction {
  /** Undefined only for text-plugin output without xids. */
  xid: number | undefined;
  /** Undefined only where the plugin does not say (test_decoding, wal2json format 1). */
  commitLsn: Lsn | undefined;
  /** The position to acknowledge once every event of this transaction is confirmed. */
  endLsn: Lsn | undefined;
  /** Commit time (Unix ms), or null when the plugin does not say. */
  commitMs: number | null;
  /** Prefix of the events' deterministic ids: the commit LSN (`0/16B3C8`), see docs/events.md. */
  idBase: string;
  origin: string | undefined;
  /** Items (changes and transactional messages), in order, in chunks. */
  buffer: TransactionBuffer;
}

export type AssemblerOutput =
  | { kind: 'transaction'; transaction: CommittedTransaction }
  | { kind: 'message'; item: PendingItem; lsn: Lsn | undefined };

export interface AssemblerOptions {
  relations: RelationCache;
  toastPlaceholder: string;
  /** Estimated bytes all open transactions may hold in memory before spilling. */
  memoryBudgetBytes: number;
  spillDir?: string;
  /** Called for every Relation/Type message, e.g. to refresh the type registry. */
  onSchemaMessage?: (message: PgOutputMessage) => void;
}

/**
 * The memory budget unless the stream's options say otherwise: 16 MiB of
 * estimated heap, not 64. Once a large transaction's events die young
 * (decision 0017), its peak is the part buffered before it spills: a
 * 2,000,000-row transaction peaked at 140-266 MiB with 64 MiB and 113-147 MiB with
 * 16 (8 MiB measured no lower), at the same CPU; spilled rows cost per change
 * what rows in memory do (docs/benchmarks.md).
 */
export const DEFAULT_MEMORY_BUDGET_BYTES = 16 * 1024 * 1024;

/** Bytes of JS heap per byte of pgoutput payload, roughly (objects, strings, converted values). */
const HEAP_PER_PAYLOAD_BYTE = 4;
/**
 * Bytes of JS heap every buffered change costs whatever its size: the item, its
 * deferred-bytes record, its LSN as a bigint. Without it the budget undercounted
 * small rows about 2×: a heap snapshot of a 1,000,000-row transaction held
 * 242,000 six-column rows in 110 MB (about 450 bytes each) against a 64 MiB
 * budget whose estimate gave them about 220 (docs/benchmarks.md, Scale).
 */
const HEAP_PER_ITEM = 200;

function estimatedHeap(payloadBytes: number): number {
  return HEAP_PER_ITEM + payloadBytes * HEAP_PER_PAYLOAD_BYTE;
}

export class TransactionAssembler {
  private readonly options: AssemblerOptions;
  private readonly budget: MemoryBudget;
  /** The transaction between Begin and Commit (not streamed). */
  private current: { xid: number; finalLsn: Lsn; commitTime: bigint; origin: string | undefined; buffer: TransactionBuffer } | undefined;
  /** In-progress streamed transactions by top-level xid. */
  private readonly streamed = new Map<number, { buffer: TransactionBuffer; origin: string | undefined }>();
  /** Top-level xid of the open Stream Start block. */
  private streamXid: number | undefined;

  constructor(options: AssemblerOptions) {
    this.options = options;
    this.budget = { used: 0, peak: 0, limit: options.memoryBudgetBytes, spillDir: options.spillDir };
  }

  /** True while a non-streamed transaction is half received (keepalive positions must not be acknowledged then). */
  get inTransaction(): boolean {
    return this.current !== undefined;
  }

  get memoryUsed(): number {
    return this.budget.used;
  }

  get memoryPeak(): number {
    return this.budget.peak;
  }

  /**
   * Handles one message; returns what it completes (a committed transaction or a
   * non-transactional message), or undefined.
   * @param lsn the XLogData start of the message (the change's WAL position)
   * @param payloadBytes its size, for the memory estimate
   */
  push(message: PgOutputMessage, lsn: Lsn, payloadBytes: number): AssemblerOutput | undefined {
    switch (message.tag) {
      case 'begin':
        if (this.current !== undefined) throw new ProtocolError(`Begin of xid ${message.xid} inside open xid ${this.current.xid}`, 0, 'B');
        this.current = {
          xid: message.xid,
          finalLsn: message.finalLsn,
          commitTime: message.commitTime,
          origin: undefined,
          buffer: new TransactionBuffer(message.xid, this.budget),
        };
        return undefined;
      case 'commit': {
        const open = this.current;
        if (open === undefined) throw new ProtocolError('Commit without Begin', 0, 'C');
        this.current = undefined;
        return {
          kind: 'transaction',
          transaction: committed(open.xid, message.commitLsn, message.endLsn, message.commitTime, open.origin, open.buffer),
        };
      }
      case 'origin':
        if (this.current !== undefined) this.current.origin = message.name;
        else if (this.streamXid !== undefined) this.streamed.get(this.streamXid)!.origin = message.name;
        return undefined;
      case 'relation':
        this.options.relations.set(message);
        this.options.onSchemaMessage?.(message);
        return undefined;
      case 'type':
        this.options.onSchemaMessage?.(message);
        return undefined;
      case 'insert':
      case 'update':
      case 'delete': {
        const relation = this.options.relations.get(message.relationOid);
        const rows = rowChange(message, relation, this.options.toastPlaceholder);
        this.addChange(message.xid, { op: OPERATION[message.tag], ...names(relation.message), ...rows, message: undefined, lsn, xid: 0 }, payloadBytes);
        return undefined;
      }
      case 'truncate':
        for (const oid of message.relationOids) {
          const relation = this.options.relations.get(oid);
          this.addChange(message.xid, { op: 't', ...names(relation.message), before: null, after: null, key: null, message: undefined, lsn, xid: 0 }, payloadBytes);
        }
        return undefined;
      case 'message': {
        const item = messageItem(message, lsn);
        if (!message.transactional) return { kind: 'message', item, lsn: message.lsn };
        this.addChange(message.xid, item, payloadBytes);
        return undefined;
      }
      case 'stream-start':
      case 'stream-stop':
      case 'stream-commit':
      case 'stream-abort':
        return this.pushStreamControl(message);
      case 'begin-prepare':
      case 'prepare':
      case 'stream-prepare':
      case 'commit-prepared':
      case 'rollback-prepared':
        // pgcdc does not ask for two_phase, so these never arrive; a prepared
        // transaction is sent as an ordinary transaction when COMMIT PREPARED runs.
        throw new ProtocolError(`two-phase message '${message.tag}' received although two_phase was not requested`, 0);
    }
  }

  /** A large transaction streamed before it commits (protocol 2+): its pieces, then Stream Commit or Abort. */
  private pushStreamControl(message: Extract<PgOutputMessage, { tag: 'stream-start' | 'stream-stop' | 'stream-commit' | 'stream-abort' }>): AssemblerOutput | undefined {
    switch (message.tag) {
      case 'stream-start': {
        if (this.streamXid !== undefined) throw new ProtocolError(`Stream Start of xid ${message.xid} inside open stream of ${this.streamXid}`, 0, 'S');
        this.streamXid = message.xid;
        if (!this.streamed.has(message.xid)) this.streamed.set(message.xid, { buffer: new TransactionBuffer(message.xid, this.budget), origin: undefined });
        return undefined;
      }
      case 'stream-stop':
        this.streamXid = undefined;
        return undefined;
      case 'stream-commit': {
        const open = this.streamed.get(message.xid);
        this.streamed.delete(message.xid);
        const buffer = open?.buffer ?? new TransactionBuffer(message.xid, this.budget);
        return {
          kind: 'transaction',
          transaction: committed(message.xid, message.commitLsn, message.endLsn, message.commitTime, open?.origin, buffer),
        };
      }
      case 'stream-abort': {
        const open = this.streamed.get(message.xid);
        if (open === undefined) return undefined;
        if (message.subXid === message.xid) {
          open.buffer.dispose();
          this.streamed.delete(message.xid);
        } else {
          open.buffer.abortSubtransaction(message.subXid);
        }
        return undefined;
      }
    }
  }

  /**
   * An insert, update or delete whose rows are converted later (row-change.ts):
   * the relation is looked up now, so the change reads as the stream said at its
   * position, whatever comes after it. `buffer[start, end)` is the message.
   */
  pushDeferredRowChange(header: RowChangeHeader, buffer: Buffer, start: number, end: number, inStream: boolean, lsn: Lsn): void {
    const relation = this.options.relations.get(header.relationOid);
    const deferred: DeferredRowChange = { relation, buffer, start, end, inStream, toastPlaceholder: this.options.toastPlaceholder };
    const message = relation.message;
    // Every field written out, not spread from names(): a spread object literal
    // gets a slower, larger shape, and these wait in memory for their commit.
    this.addChange(header.xid, { op: header.op, schema: message.namespace, table: message.name, columns: message.columns, before: null, after: null, key: null, message: undefined, lsn, xid: 0, deferred }, end - start);
  }

  private addChange(messageXid: number | undefined, item: PendingItem, payloadBytes: number): void {
    if (this.streamXid !== undefined) {
      item.xid = messageXid ?? this.streamXid;
      this.streamed.get(this.streamXid)!.buffer.add(item, estimatedHeap(payloadBytes));
      return;
    }
    const open = this.current;
    if (open === undefined) throw new ProtocolError(`change outside a transaction`, 0);
    item.xid = open.xid;
    open.buffer.add(item, estimatedHeap(payloadBytes));
  }

  /** Drops everything buffered (on disconnect: the server resends from the confirmed position). */
  reset(): void {
    this.current?.buffer.dispose();
    this.current = undefined;
    for (const { buffer } of this.streamed.values()) buffer.dispose();
    this.streamed.clear();
    this.streamXid = undefined;
  }
}

function committed(xid: number, commitLsn: Lsn, endLsn: Lsn, commitTime: bigint, origin: string | undefined, buffer: TransactionBuffer): CommittedTransaction {
  return { xid, commitLsn, endLsn, commitMs: postgresMicrosToUnixMs(commitTime), idBase: formatLsn(commitLsn), origin, buffer };
}

const OPERATION = { insert: 'c', update: 'u', delete: 'd' } as const;

function names(relation: RelationMessage): { schema: string; table: string; columns: readonly ColumnType[] } {
  return { schema: relation.namespace, table: relation.name, columns: relation.columns };
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function messageBody(message: LogicalMessage): MessageBody {
  let content: string;
  let encoding: 'utf8' | 'base64' = 'utf8';
  try {
    content = utf8Decoder.decode(message.content);
  } catch {
    content = message.content.toString('base64');
    encoding = 'base64';
  }
  return { prefix: message.prefix, content, encoding, transactional: message.transactional };
}

function messageItem(message: LogicalMessage, lsn: Lsn): PendingItem {
  return {
    op: 'm',
    schema: '',
    table: '',
    before: null,
    after: null,
    key: null,
    message: messageBody(message),
    lsn: message.lsn || lsn,
    xid: message.xid ?? 0,
  };
}
