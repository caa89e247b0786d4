/**
 * Builds Debezium-envelope events from assembled items once their transaction's
 * commit is known. Ids are deterministic (commit LSN + position), so a
 * re-delivery after a restart carries the same ids and sinks can drop repeats.
 */
import { formatLsn, type Lsn } from '../core/lsn.ts';
import type { PendingItem } from '../assemble/pending-item.ts';
import type { ChangeEvent, EventMeta, Route } from './change-event.ts';

export interface SourceIdentity {
  /** pgcdc's version, Debezium's `source.version`. */
  version: string;
  /** Logical source name (Debezium's topic.prefix). */
  name: string;
  db: string;
}

/**
 * The metadata of each event (key, LSNs) rides on a symbol-keyed property:
 * JSON.stringify skips symbol keys, so it never reaches the serialised event,
 * and it costs one property store (a WeakMap entry cost far more per event).
 */
const META: unique symbol = Symbol('pgcdc.eventMeta');

type WithMeta = ChangeEvent & { [META]?: EventMeta };

export function eventMeta(event: ChangeEvent): EventMeta | undefined {
  return (event as WithMeta)[META];
}

function attachMeta(event: ChangeEvent, meta: EventMeta): void {
  (event as WithMeta)[META] = meta;
}

/** For events built elsewhere (snapshot rows). */
export function attachEventMeta(event: ChangeEvent, meta: EventMeta): void {
  attachMeta(event, meta);
}

/** Sets where the event goes (outbox router). */
export function setRoute(event: ChangeEvent, route: Route): void {
  const meta = (event as WithMeta)[META];
  if (meta) meta.route = route;
  else attachMeta(event, { key: null, commitLsn: undefined, lsn: undefined, route });
}

export interface TransactionContext {
  xid: number | undefined;
  commitLsn: Lsn | undefined;
  commitMs: number | null;
  idBase: string;
}

/** Builds the events of one transaction, chunk by chunk, numbering them in order. */
export class TransactionEventBuilder {
  private position = 0;
  private readonly perTable = new Map<string, number>();
  private readonly transactionId: string;
  private readonly identity: SourceIdentity;
  private readonly context: TransactionContext;
  private readonly commitLsnDecimal: string;

  constructor(identity: SourceIdentity, context: TransactionContext) {
    this.identity = identity;
    this.context = context;
    this.transactionId = `${context.xid ?? 'null'}:${context.commitLsn ?? context.idBase}`;
    this.commitLsnDecimal = lsnDecimal(context.commitLsn);
  }

  build(item: PendingItem, now: number): ChangeEvent {
    const position = ++this.position;
    const tableKey = item.op === 'm' ? `m:${item.message!.prefix}` : `${item.schema}.${item.table}`;
    const tableOrder = (this.perTable.get(tableKey) ?? 0) + 1;
    this.perTable.set(tableKey, tableOrder);
    const event: ChangeEvent = buildEnvelope(item, this.identity, {
      id: `${this.context.idBase}:${position}`,
      commitMs: this.context.commitMs,
      txId: this.context.xid ?? null,
      // [commit LSN of this transaction, this change's LSN]: deterministic, so a
      // re-delivered event is identical, and it orders events by commit, then change.
      sequence: `[${this.commitLsnDecimal},${lsnDecimal(item.lsn)}]`,
      now,
      transaction: { id: this.transactionId, total_order: position, data_collection_order: tableOrder },
    });
    attachMeta(event, { key: item.key, commitLsn: this.context.commitLsn, lsn: item.lsn, columns: item.columns });
    return event;
  }
}

/**
 * A non-transactional message: its own LSN stands in for the commit LSN
 * (`idBase` names it when the plugin gives no LSN).
 */
export function buildNonTransactionalMessageEvent(
  item: PendingItem, identity: SourceIdentity, now: number,
  idBase?: string, writtenMs: number | null = now,
): ChangeEvent {
  const event = buildEnvelope(item, identity, {
    id: `${idBase ?? (item.lsn === undefined ? 'unknown' : formatLsn(item.lsn))}:0`,
    // Decoded live, a non-transactional message is as old as the moment it arrives;
    // read from a file, when it was written is unknown (writtenMs null).
    commitMs: writtenMs,
    txId: null,
    sequence: `[${lsnDecimal(item.lsn)},${lsnDecimal(item.lsn)}]`,
    now,
    transaction: null,
  });
  attachMeta(event, { key: null, commitLsn: item.lsn, lsn: item.lsn });
  return event;
}

interface EnvelopeParts {
  id: string;
  commitMs: number | null;
  txId: number | null;
  sequence: string;
  now: number;
  transaction: ChangeEvent['transaction'];
}

function buildEnvelope(item: PendingItem, identity: SourceIdentity, parts: EnvelopeParts): ChangeEvent {
  const source: ChangeEvent['source'] = {
    version: identity.version,
    connector: 'postgresql',
    name: identity.name,
    ts_ms: parts.commitMs,
    snapshot: 'false',
    db: identity.db,
    sequence: parts.sequence,
    schema: item.schema,
    table: item.table,
    txId: parts.txId,
    lsn: item.lsn === undefined ? null : Number(item.lsn),
    xmin: null,
  };
  if (item.op === 'm') {
    // Debezium's message events carry no before/after.
    return { id: parts.id, op: 'm', source, message: item.message!, ts_ms: parts.commitMs ?? parts.now, transaction: parts.transaction };
  }
  // ts_ms is the commit time, not the build time: a re-delivered event (after a
  // restart or a retry) is then byte for byte the one delivered before, so
  // receivers that compare bodies under one idempotency key accept it
  // (docs/decisions/0010). The build time only stands in when the WAL has none.
  return { id: parts.id, op: item.op, before: item.before, after: item.after, source, ts_ms: parts.commitMs ?? parts.now, transaction: parts.transaction };
}

/** `"24710120"` for the sequence field (a double holds LSNs below 8 PiB exactly, and converts faster than BigInt#toString); `null` when unknown. */
function lsnDecimal(lsn: bigint | undefined): string {
  if (lsn === undefined) return 'null';
  const n = Number(lsn);
  return `"${Number.isSafeInteger(n) ? String(n) : lsn.toString()}"`;
}
