/**
 * The gap event (`onSlotLost: resnapshot`): when a slot pgcdc streamed from was
 * lost (invalidated, or dropped behind its back), the changes between its last
 * position and the new slot's are gone. Before the tables are read again, this
 * event tells consumers so, in a form they tell apart from normal traffic: a
 * logical decoding message event with prefix `pgcdc.gap`, not transactional,
 * content JSON `{slot, reason, lostAfter, resumedAt, detectedAt}`.
 */
import type { Lsn } from '../core/lsn.ts';
import type { ChangeEvent } from './change-event.ts';
import { attachEventMeta, type SourceIdentity } from './event-builder.ts';
import { formatLsn } from '../core/lsn.ts';

export const GAP_PREFIX = 'pgcdc.gap';

export interface SlotGap {
  slot: string;
  /** `invalidated` (the server removed its WAL) or `dropped` (no longer exists, e.g. after a failover). */
  reason: 'invalidated' | 'dropped';
  /** The last position delivered or confirmed before the loss ("0/16B3C8"), when known. */
  lostAfter: string | null;
  /** The new slot's position: the tables are read again as of it, and streaming continues from it. */
  resumedAt: string;
  detectedAt: string;
  /** Set once the sink confirmed the gap event (kept in the snapshot state). */
  delivered?: boolean;
}

export function buildGapEvent(gap: SlotGap, identity: SourceIdentity, lsn: Lsn): ChangeEvent {
  const at = Date.parse(gap.detectedAt);
  const event: ChangeEvent = {
    id: `${formatLsn(lsn)}:gap`,
    op: 'm',
    message: {
      prefix: GAP_PREFIX,
      content: JSON.stringify({ slot: gap.slot, reason: gap.reason, lostAfter: gap.lostAfter, resumedAt: gap.resumedAt, detectedAt: gap.detectedAt }),
      encoding: 'utf8',
      transactional: false,
    },
    source: {
      version: identity.version, connector: 'postgresql', name: identity.name, ts_ms: at, snapshot: 'false', db: identity.db,
      sequence: `[null,"${lsn.toString()}"]`, schema: '', table: '', txId: null, lsn: Number(lsn), xmin: null,
    },
    ts_ms: at,
    transaction: null,
  };
  attachEventMeta(event, { key: null, commitLsn: lsn, lsn });
  return event;
}
