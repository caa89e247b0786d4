/**
 * One change or message of a transaction, decoded and converted, waiting for its
 * transaction's commit to become a `ChangeEvent` (the commit LSN, commit time
 * and position are only known then for streamed transactions).
 */
import type { JsonObject } from '../core/json.ts';
import type { ColumnType, MessageBody, Operation } from '../core/change-types.ts';
import type { DeferredRowChange } from './row-change.ts';
import type { Lsn } from '../core/lsn.ts';

export interface PendingItem {
  op: Operation;
  schema: string;
  table: string;
  before: JsonObject | null;
  after: JsonObject | null;
  key: JsonObject | null;
  message: MessageBody | undefined;
  /** WAL position of the change (the XLogData start); undefined when a text plugin's output does not say. */
  lsn: Lsn | undefined;
  /** The table's columns when the change was made (pgoutput only; the Relation message's own list, not a copy). */
  columns?: readonly ColumnType[] | undefined;
  /** The (sub)transaction that made the change: a Stream Abort of a subtransaction drops its items. */
  xid: number;
  /**
   * Set while an insert, update or delete is still its pgoutput bytes: `before`,
   * `after` and `key` come with the new item `materialize` makes when it is handed on (row-change.ts).
   */
  deferred?: DeferredRowChange | undefined;
}
