/**
 * `onSlotLost: resnapshot`: a slot pgcdc streamed from is lost (the server
 * invalidated it, or it no longer exists though pgcdc delivered from it). The
 * default stops with PGCDC_SLOT_LOST; this mode clears the way for a new slot
 * of the same name, whose start re-reads the tables in its exported snapshot
 * after a gap event (events/gap-event.ts) that says what was lost.
 */
import { formatLsn, type Lsn } from '../core/lsn.ts';
import { DeliveredPositionRecord } from '../source/delivered-position.ts';
import type { SlotInfo } from '../source/slots.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import type { SlotGap } from '../events/gap-event.ts';

/**
 * Drops the invalidated slot (when there is one); returns the gap, its resumedAt
 * still to be set. The delivered-position record is kept until the new slot
 * exists (`forgetLostSlot`): killed in between, the next start still finds the
 * record without a slot, and says so again, rather than make a new slot silently.
 */
export async function clearLostSlot(sql: SqlConnection, slot: string, lost: SlotInfo | undefined, lastDelivered: Lsn | undefined): Promise<SlotGap> {
  if (lost !== undefined) await sql.query('SELECT pg_drop_replication_slot($1)', [slot]);
  const after = lastDelivered ?? lost?.confirmedFlushLsn ?? null;
  return {
    slot,
    reason: lost !== undefined ? 'invalidated' : 'dropped',
    lostAfter: after === null ? null : formatLsn(after),
    resumedAt: '',
    detectedAt: new Date().toISOString(),
  };
}

/** Once the new slot exists and the gap is in the snapshot state: the old record would otherwise read as a dropped slot. */
export async function forgetLostSlot(sql: SqlConnection, slot: string): Promise<void> {
  await DeliveredPositionRecord.forget(sql, slot);
}
