/**
 * The rows of an insert, update or delete: converted from pgoutput tuples with
 * the relation in force when the change arrived.
 *
 * Converting is deferred, not skipped. On arrival a change keeps only its
 * pgoutput bytes (a view of the socket chunk) and the relation at that point of
 * the stream; it is decoded and converted when its transaction is handed on.
 * Why: a backlog waits in the stream's queue and then in the sink's round trip.
 * Converted rows (objects, strings, parsed jsonb) that wait that long outlive
 * several young-generation collections, are copied each time and promoted, and
 * that copying cost `pgcdc run` about a fifth of its CPU (docs/benchmarks.md).
 * Bytes waiting cost the collector nothing; rows converted just before they are
 * serialised die young.
 */
import type { JsonObject } from '../core/json.ts';
import { decodePgOutput } from '../decode/pgoutput/decode.ts';
import type { DeleteMessage, InsertMessage, Tuple, UpdateMessage } from '../decode/pgoutput/messages.ts';
import type { PendingItem } from './pending-item.ts';
import type { CachedRelation } from './relation-cache.ts';
import { keyColumnsOnly, keyOf, tupleToRow } from './tuple-to-row.ts';

export interface RowChange {
  before: JsonObject | null;
  after: JsonObject | null;
  key: JsonObject | null;
}

/** A change kept as bytes until it is handed on. */
export interface DeferredRowChange {
  relation: CachedRelation;
  /** The message's bytes: `buffer[start, end)`. The buffer is never written again (docs/architecture.md). */
  buffer: Buffer;
  start: number;
  end: number;
  /** Inside a Stream Start block: the message carries an xid first. */
  inStream: boolean;
  toastPlaceholder: string;
}

export function rowChange(message: InsertMessage | UpdateMessage | DeleteMessage, relation: CachedRelation, toastPlaceholder: string): RowChange {
  switch (message.tag) {
    case 'insert': {
      const after = tupleToRow(relation, message.newTuple, toastPlaceholder);
      return { before: null, after, key: keyOf(relation, after) };
    }
    case 'update': {
      const after = tupleToRow(relation, message.newTuple, toastPlaceholder);
      let before: JsonObject | null = null;
      if (message.oldTuple !== undefined) {
        const old = tupleToRow(relation, message.oldTuple, toastPlaceholder);
        before = message.oldKind === 'key' ? keyColumnsOnly(relation, old) : old;
        // REPLICA IDENTITY FULL sends the whole old row, TOASTed values included: an
        // unchanged TOASTed column's value is in this very event, so `after` carries it.
        if (message.oldKind === 'old') fillUnchangedToast(relation, message.newTuple, message.oldTuple, after, old);
      }
      // The key is the new row's: an update that changes the key also sends the old key in `before`.
      return { before, after, key: keyOf(relation, after) };
    }
    case 'delete': {
      const old = tupleToRow(relation, message.oldTuple, toastPlaceholder);
      const before = message.oldKind === 'key' ? keyColumnsOnly(relation, old) : old;
      return { before, after: null, key: keyOf(relation, before) };
    }
  }
}

/**
 * The item with its rows decoded and converted: a new item, the waiting one left
 * as it was (any other item is returned as it is). Not written into the waiting
 * item: that one waited for its commit long enough to be promoted, and rows
 * hung on an old object stay reachable until a full collection finds the item
 * dead, so every row of a large transaction was copied and promoted with it.
 */
export function materialize(item: PendingItem): PendingItem {
  const deferred = item.deferred;
  if (deferred === undefined) return item;
  const message = decodePgOutput(deferred.buffer, { inStream: deferred.inStream }, deferred.start, deferred.end) as InsertMessage | UpdateMessage | DeleteMessage;
  const rows = rowChange(message, deferred.relation, deferred.toastPlaceholder);
  return {
    op: item.op,
    schema: item.schema,
    table: item.table,
    columns: item.columns,
    before: rows.before,
    after: rows.after,
    key: rows.key,
    message: undefined,
    lsn: item.lsn,
    xid: item.xid,
    deferred: undefined,
  };
}

function fillUnchangedToast(relation: CachedRelation, newTuple: Tuple, oldTuple: Tuple, after: JsonObject, old: JsonObject): void {
  const columns = relation.message.columns;
  for (let i = 0; i < newTuple.length; i++) {
    if (newTuple[i]!.kind === 'unchanged-toast' && oldTuple[i] !== undefined && oldTuple[i]!.kind !== 'unchanged-toast') {
      const name = columns[i]!.name;
      after[name] = old[name]!;
    }
  }
}
