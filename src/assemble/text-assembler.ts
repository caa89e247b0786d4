/**
 * wal2json / test_decoding records → the same committed transactions and
 * non-transactional messages as the pgoutput assembler, so events, transforms
 * and output are shared. What a plugin does not say (commit LSN, commit time,
 * keys) stays unknown rather than invented; docs/read.md lists the differences.
 */
import { formatLsn, type Lsn, LSN_ZERO } from '../core/lsn.ts';
import type { JsonObject } from '../core/json.ts';
import { UNCHANGED_TOAST, type TextColumn, type TextRecord } from '../decode/text-plugins/records.ts';
import type { TextConverter, ValueConverter } from '../decode/values/convert.ts';
import { oidForTypeName } from '../decode/values/type-names.ts';
import { styledTimestamp } from '../decode/values/date-styles.ts';
import type { PendingItem } from './pending-item.ts';
import type { AssemblerOutput } from './transaction-assembler.ts';
import { messageBody } from './transaction-assembler.ts';
import { TransactionBuffer, type MemoryBudget } from './transaction-buffer.ts';
import { CdcError } from '../core/errors.ts';
import { createHash, type Hash } from 'node:crypto';

export interface TextAssemblerOptions {
  converter: ValueConverter;
  toastPlaceholder: string;
  memoryBudgetBytes: number;
  spillDir?: string;
}

const identity: TextConverter = (text) => text;

export class TextAssembler {
  private readonly options: TextAssemblerOptions;
  private readonly budget: MemoryBudget;
  private readonly converters = new Map<string, TextConverter>();
  private open: { xid: number | undefined; commitTime: string | undefined; endLsn: Lsn | undefined; buffer: TransactionBuffer; digest: Hash | undefined } | undefined;
  /** How often each content digest was seen in this input: identical transactions get distinct ids. */
  private readonly digests = new Map<string, number>();
  /** Counts transactions and messages without any position, to name them. */

  constructor(options: TextAssemblerOptions) {
    this.options = options;
    this.budget = { used: 0, peak: 0, limit: options.memoryBudgetBytes, spillDir: options.spillDir };
  }

  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  get memoryUsed(): number {
    return this.budget.used;
  }

  get memoryPeak(): number {
    return this.budget.peak;
  }

  /**
   * @param lsn the record's WAL position when streaming live (XLogData start); for
   *   test_decoding's COMMIT it is the transaction's end LSN
   */
  push(record: TextRecord, lsn: Lsn | undefined, bytes: number): AssemblerOutput | undefined {
    switch (record.kind) {
      case 'begin':
        if (this.open !== undefined) throw new CdcError('PGCDC_BAD_INPUT', `BEGIN of transaction ${record.xid ?? '?'} inside open transaction ${this.open.xid ?? '?'}`);
        // Without an LSN or an xid the ids come from what the transaction holds (see idBase).
        const digest = record.xid === undefined && record.endLsn === undefined ? createHash('sha256') : undefined;
        this.open = { xid: record.xid, commitTime: record.commitTime, endLsn: record.endLsn, buffer: new TransactionBuffer(record.xid ?? 0, this.budget), digest };
        return undefined;
      case 'commit': {
        const open = this.open;
        if (open === undefined) throw new CdcError('PGCDC_BAD_INPUT', `COMMIT of transaction ${record.xid ?? '?'} without BEGIN`);
        this.open = undefined;
        const commitLsn = record.commitLsn;
        const endLsn = record.endLsn ?? open.endLsn ?? lsn;
        const commitTime = record.commitTime ?? open.commitTime;
        const xid = record.xid ?? open.xid;
        return {
          kind: 'transaction',
          transaction: {
            xid,
            commitLsn,
            endLsn,
            commitMs: commitTime === undefined ? null : timestampToMs(commitTime),
            idBase: commitLsn !== undefined ? formatLsn(commitLsn) : endLsn !== undefined ? formatLsn(endLsn) : xid !== undefined ? `xid${xid}` : this.contentId(open.digest, commitTime),
            origin: undefined,
            buffer: open.buffer,
          },
        };
      }
      case 'message': {
        const item: PendingItem = {
          op: 'm', schema: '', table: '', before: null, after: null, key: null,
          message: messageBody({ tag: 'message', xid: record.xid, transactional: record.transactional, lsn: record.lsn ?? lsn ?? LSN_ZERO, prefix: record.prefix, content: Buffer.from(record.content, 'utf8') }),
          lsn: record.lsn ?? lsn,
          xid: record.xid ?? 0,
        };
        if (!record.transactional) return { kind: 'message', item, lsn: item.lsn };
        const open = this.requireOpen('message');
        open.digest?.update(`m\0${record.prefix}\0${record.content}\0`);
        open.buffer.add(item, bytes * 4);
        return undefined;
      }
      case 'change': {
        // pgcdc's own bookkeeping (source/delivered-position.ts): text plugins stream every table, this one is not the user's.
        if (record.schema === 'pgcdc' && record.table === 'delivered') return undefined;
        const after = record.columns === undefined ? null : this.row(record.columns);
        const before = record.oldColumns === undefined || record.oldColumns.length === 0 ? null : this.row(record.oldColumns);
        const keySource = record.op === 'd' ? before : after ?? before;
        const keyNames = record.keyNames?.length ? record.keyNames : record.oldColumns?.length && record.op === 'd' ? record.oldColumns.map((c) => c.name) : undefined;
        const item: PendingItem = {
          op: record.op,
          schema: record.schema,
          table: record.table,
          before: record.op === 'c' || record.op === 't' ? null : before,
          after: record.op === 'd' || record.op === 't' ? null : after,
          key: keyNames && keySource ? pick(keySource, keyNames) : null,
          message: undefined,
          lsn: record.lsn ?? lsn,
          xid: record.xid ?? 0,
        };
        const open = this.requireOpen('change');
        open.digest?.update(`${JSON.stringify(record)}\0`);
        open.buffer.add(item, bytes * 4);
        return undefined;
      }
    }
  }

  /**
   * An id for a transaction the input gives no LSN or xid for (wal2json without
   * include-lsn and include-xids): a digest of its changes and commit time, so the
   * same transaction read again (the same file, or another copy) gets the same ids
   * and sinks deduplicate it, while different files no longer restart at `tx1`.
   * Identical transactions in one input are told apart by their occurrence.
   */
  private contentId(digest: Hash | undefined, commitTime: string | undefined): string {
    const hash = (digest ?? createHash('sha256')).update(`c\0${commitTime ?? ''}`).digest('hex').slice(0, 16);
    const seen = (this.digests.get(hash) ?? 0) + 1;
    this.digests.set(hash, seen);
    return seen === 1 ? `tx${hash}` : `tx${hash}-${seen}`;
  }

  private requireOpen(what: string): { buffer: TransactionBuffer; digest: Hash | undefined } {
    if (this.open === undefined) throw new CdcError('PGCDC_BAD_INPUT', `${what} outside a transaction (no BEGIN before it)`);
    return this.open;
  }

  private row(columns: TextColumn[]): JsonObject {
    const row: JsonObject = {};
    for (const column of columns) {
      const value = column.value;
      if (value === null) row[column.name] = null;
      else if (value === UNCHANGED_TOAST) row[column.name] = this.options.toastPlaceholder;
      else row[column.name] = this.converterFor(column.typeName)(value);
    }
    return row;
  }

  private converterFor(typeName: string | undefined): TextConverter {
    if (typeName === undefined) return identity;
    let converter = this.converters.get(typeName);
    if (converter === undefined) {
      const oid = oidForTypeName(typeName);
      converter = oid === undefined ? identity : this.options.converter.converterFor(oid);
      this.converters.set(typeName, converter);
    }
    return converter;
  }

  /** Drops a half-read transaction (end of input, or a reconnect). */
  reset(): void {
    this.open?.buffer.dispose();
    this.open = undefined;
  }
}

function pick(row: JsonObject, names: string[]): JsonObject {
  const key: JsonObject = {};
  for (const name of names) key[name] = row[name] ?? null;
  return key;
}

/** Commit timestamps as the server prints them ("2026-11-21 20:57:28.027944+00", any DateStyle) → Unix ms; null when unreadable. */
function timestampToMs(text: string): number | null {
  let iso: string;
  try {
    iso = styledTimestamp(text, true, undefined);
  } catch {
    return null; // a day-first or month-first date: the commit time is only metadata, not worth stopping for
  }
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}
