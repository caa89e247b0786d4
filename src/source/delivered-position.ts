/**
 * pgcdc's own durable record of what each slot's sink confirmed, in a small
 * table of the source database (`pgcdc.delivered`), where a standby pgcdc on
 * another host reads it too.
 *
 * Why: PostgreSQL writes a slot's confirmed position to disk only at
 * checkpoints. After a crash or an immediate restart the slot is back at the
 * last checkpoint, and everything since would be delivered again. A row written
 * (committed, so flushed) each time pgcdc acknowledges a position survives that,
 * and START_REPLICATION at the recorded position makes the server skip what the
 * sink already has.
 *
 * The record is only ever used forward of the slot, and only on the same system
 * and timeline it was written on: a slot dropped and created again starts past
 * any older record; after a failover (a new timeline) the new primary's history
 * may differ from the old one's past the fork, so the slot's own position rules.
 */
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import type { SqlConnection } from './sql-connection.ts';
import type { SystemIdentity } from './replication-connection.ts';

const TABLE = 'pgcdc.delivered';

export class DeliveredPositionRecord {
  private readonly sql: SqlConnection;
  private readonly slot: string;
  private readonly system: SystemIdentity;
  private recorded: Lsn | undefined;
  /** Events handed out when the record was last written, and whether none was unconfirmed then (see `record`). */
  private handedOutAtRecord = -1;
  private settled = false;
  private writing = false;
  private failed = false;
  private readonly onProblem: (message: string) => void;

  private constructor(sql: SqlConnection, slot: string, system: SystemIdentity, onProblem: (message: string) => void) {
    this.sql = sql;
    this.slot = slot;
    this.system = system;
    this.onProblem = onProblem;
  }

  /**
   * The record for `slot`, its table created when missing; undefined (with the
   * reason in `onProblem`) when pgcdc may not create it, or when a publication
   * would stream its rows (a FOR ALL TABLES publication).
   */
  static async open(sql: SqlConnection, slot: string, system: SystemIdentity, publications: string[], onProblem: (message: string) => void): Promise<DeliveredPositionRecord | undefined> {
    try {
      // Looked up first: CREATE SCHEMA checks the database privilege even when the
      // schema exists, and an administrator may have created both for a role without it.
      const [found] = await sql.query<{ exists: boolean }>(`SELECT to_regclass('${TABLE}') IS NOT NULL AS exists`);
      if (!found?.exists) {
        await sql.query(`CREATE SCHEMA IF NOT EXISTS pgcdc`);
        await sql.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (slot name PRIMARY KEY, lsn pg_lsn NOT NULL, system_id text NOT NULL, timeline int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
      }
    } catch (error) {
      // The server's own words (the classified message adds advice about other privileges).
      const reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      onProblem(`no delivered-position record (${reason}): after a PostgreSQL crash, changes since its last checkpoint are delivered again; grant CREATE on the database, or create ${TABLE} (docs/lsn-and-acks.md)`);
      return undefined;
    }
    const published = await sql.query(`SELECT 1 FROM pg_publication_tables WHERE pubname = ANY($1) AND schemaname = 'pgcdc' AND tablename = 'delivered'`, [publications]);
    if (published.length > 0) {
      onProblem(`no delivered-position record: publication ${publications.join(', ')} publishes ${TABLE} (FOR ALL TABLES), so its rows would stream; after a PostgreSQL crash, changes since its last checkpoint are delivered again`);
      return undefined;
    }
    return new DeliveredPositionRecord(sql, slot, system, onProblem);
  }

  /** The position last recorded for the slot on this system (any timeline), if any. */
  async last(): Promise<Lsn | undefined> {
    const [row] = await this.sql.query<{ lsn: string; system_id: string }>(`SELECT lsn::text, system_id FROM ${TABLE} WHERE slot = $1`, [this.slot]);
    return row === undefined || row.system_id !== this.system.systemId ? undefined : parseLsn(row.lsn);
  }

  /** Forgets the slot's record (`pgcdc slot drop`); false when there was none, or no table. */
  static async forget(sql: SqlConnection, slot: string): Promise<boolean> {
    const [table] = await sql.query<{ exists: boolean }>(`SELECT to_regclass('${TABLE}') IS NOT NULL AS exists`);
    if (!table?.exists) return false;
    return (await sql.query(`DELETE FROM ${TABLE} WHERE slot = $1 RETURNING slot`, [slot])).length > 0;
  }

  /** The recorded position, when it is past `slotPosition` on this system and timeline. */
  async aheadOf(slotPosition: Lsn): Promise<Lsn | undefined> {
    const [row] = await this.sql.query<{ lsn: string; system_id: string; timeline: number }>(`SELECT lsn::text, system_id, timeline FROM ${TABLE} WHERE slot = $1`, [this.slot]);
    if (row === undefined || row.system_id !== this.system.systemId || row.timeline !== this.system.timeline) return undefined;
    const lsn = parseLsn(row.lsn);
    this.recorded = lsn;
    return lsn > slotPosition ? lsn : undefined;
  }

  /**
   * Records `lsn` (a position just acknowledged: everything before it is in the
   * sink). `handedOut` counts the events handed to the consumer so far, and
   * `settled` says none is unconfirmed. When no event was handed out since a
   * record written while settled, only pgcdc's own writes, heartbeats or other
   * tables moved the position: nothing could repeat after a crash, so nothing is
   * written. On an idle database that keeps the record from writing every status
   * interval (its own write would move the position again).
   * One write at a time; a position that comes while one is in flight is recorded
   * with the next acknowledgement.
   */
  record(lsn: Lsn, handedOut: number, settled: boolean): void {
    if (this.writing || this.failed || (this.recorded !== undefined && lsn <= this.recorded)) return;
    if (handedOut === this.handedOutAtRecord && this.settled) return;
    this.writing = true;
    this.write(lsn).then(() => {
      this.settled = settled;
      this.handedOutAtRecord = handedOut;
    }, (error: Error) => {
      // Not fatal: the slot's own position still holds; only the repeats after a
      // crash grow. A connection closing (pgcdc stopping, the server restarting)
      // has no SQLSTATE and is not worth a line: the next stream opens a new one.
      if ((error.cause as { code?: string } | undefined)?.code === undefined) return;
      this.failed = true;
      this.onProblem(`delivered-position record stopped: ${error.message}`);
    }).finally(() => { this.writing = false; });
  }

  private async write(lsn: Lsn): Promise<void> {
    await this.sql.query(
      `INSERT INTO ${TABLE} (slot, lsn, system_id, timeline) VALUES ($1, $2::pg_lsn, $3, $4)
       ON CONFLICT (slot) DO UPDATE SET lsn = EXCLUDED.lsn, system_id = EXCLUDED.system_id, timeline = EXCLUDED.timeline, updated_at = now()`,
      [this.slot, formatLsn(lsn), this.system.systemId, this.system.timeline],
    );
    this.recorded = lsn;
  }
}
