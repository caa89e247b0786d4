/**
 * Snapshot rows as `op: "r"` events, Debezium's read events: `before` null,
 * `source.snapshot` "true" ("last" on the final row of an initial snapshot,
 * "incremental" for incremental snapshots), `source.lsn` the position the
 * snapshot belongs to, no transaction. The id is deterministic (position, table,
 * key), so a chunk delivered again after a crash carries the same ids.
 */
import type { ColumnType } from '../core/change-types.ts';
import type { JsonObject } from '../core/json.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import type { ChangeEvent, EventSource } from './change-event.ts';
import { attachEventMeta, type SourceIdentity } from './event-builder.ts';

export function buildSnapshotEvent(
  identity: SourceIdentity, schema: string, table: string, row: JsonObject, key: JsonObject,
  lsn: Lsn, readMs: number, kind: EventSource['snapshot'], columns?: readonly ColumnType[], byPosition = false,
): ChangeEvent {
  const position = positionTexts(lsn);
  const event: ChangeEvent = {
    id: `${position.formatted}:r:${schema}.${table}:${JSON.stringify(key)}`,
    op: 'r',
    before: null,
    after: row,
    source: {
      version: identity.version,
      connector: 'postgresql',
      name: identity.name,
      ts_ms: readMs,
      snapshot: kind,
      db: identity.db,
      sequence: position.sequence,
      schema,
      table,
      txId: null,
      lsn: Number(lsn),
      xmin: null,
    },
    ts_ms: readMs,
    transaction: null,
  };
  // A row read by position (a table without a key) is identified by it, but has no key, as its streamed changes have none.
  attachEventMeta(event, { key: byPosition ? null : key, commitLsn: lsn, lsn, columns });
  return event;
}

/** A snapshot's rows share one position: its texts are made once, not per row. */
let lastPosition: { lsn: Lsn; formatted: string; sequence: string } | undefined;

function positionTexts(lsn: Lsn): { formatted: string; sequence: string } {
  if (lastPosition?.lsn !== lsn) {
    const decimal = Number.isSafeInteger(Number(lsn)) ? String(Number(lsn)) : lsn.toString();
    lastPosition = { lsn, formatted: formatLsn(lsn), sequence: `[null,"${decimal}"]` };
  }
  return lastPosition;
}
