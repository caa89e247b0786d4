/**
 * Transaction snapshots reduced to what pgoutput sends (32-bit xids), to tell
 * whether a streamed transaction's changes were visible to a chunk's read: the
 * incremental snapshot's merge rule (docs/decisions/0005).
 */

/** A transaction snapshot as pg_current_snapshot() gives it, reduced to 32-bit xids (what pgoutput sends). */
export interface XidSnapshot {
  xmin: number;
  xmax: number;
  inProgress: Set<number>;
}

/** "xmin:xmax:xip,..." (xid8 or txid, with epoch) → 32-bit xids as pgoutput sends them. */
export function parseSnapshot(text: string): XidSnapshot {
  const [xmin, xmax, xip] = text.split(':');
  const low32 = (x: string) => Number(BigInt(x) & 0xffffffffn);
  return { xmin: low32(xmin!), xmax: low32(xmax!), inProgress: new Set((xip ?? '').split(',').filter(Boolean).map(low32)) };
}

/** xid a precedes b, modulo 2^32 (TransactionIdPrecedes). */
function precedes(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** Whether S saw the transaction's changes (committed before S was taken). */
export function visibleIn(snapshot: XidSnapshot, xid: number): boolean {
  if (precedes(xid, snapshot.xmin)) return true;
  if (!precedes(xid, snapshot.xmax)) return false;
  return !snapshot.inProgress.has(xid);
}
