/**
 * Replication slots: inspect, create, drop. pgcdc never drops or recreates a
 * slot on the user's behalf: the slot's position is the user's data.
 */
import { CdcError } from '../core/errors.ts';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import type { SqlConnection } from './sql-connection.ts';

export interface SlotInfo {
  name: string;
  plugin: string | null;
  slotType: string;
  database: string | null;
  temporary: boolean;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: Lsn | null;
  restartLsn: Lsn | null;
  /** Bytes of WAL the slot keeps the server from removing (current WAL position − restart_lsn). */
  retainedWalBytes: number | null;
  /** reserved, extended, unreserved or lost. */
  walStatus: string | null;
  /** PostgreSQL 17+: the slot is synchronized to standbys that sync slots (null before 17). */
  failover: boolean | null;
  /** PostgreSQL 17+, on a standby: the slot is a synchronized copy of the primary's. */
  synced: boolean | null;
}

const SLOT_COLUMNS = `slot_name, plugin, slot_type, database, temporary, active, active_pid,
  confirmed_flush_lsn::text AS confirmed, restart_lsn::text AS restart, wal_status,
  (to_jsonb(s) ->> 'failover')::boolean AS failover, (to_jsonb(s) ->> 'synced')::boolean AS synced,
  CASE WHEN restart_lsn IS NULL THEN NULL
       WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), restart_lsn)
       ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END::bigint AS retained`;

interface SlotRow {
  slot_name: string; plugin: string | null; slot_type: string; database: string | null; temporary: boolean; active: boolean;
  active_pid: number | null; confirmed: string | null; restart: string | null; wal_status: string | null; retained: string | null;
  failover: boolean | null; synced: boolean | null;
}

function toSlotInfo(row: SlotRow): SlotInfo {
  return {
    name: row.slot_name,
    plugin: row.plugin,
    slotType: row.slot_type,
    database: row.database,
    temporary: row.temporary,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed === null ? null : parseLsn(row.confirmed),
    restartLsn: row.restart === null ? null : parseLsn(row.restart),
    retainedWalBytes: row.retained === null ? null : Number(row.retained),
    walStatus: row.wal_status,
    failover: row.failover,
    synced: row.synced,
  };
}

export async function listSlots(sql: SqlConnection): Promise<SlotInfo[]> {
  const rows = await sql.query<SlotRow>(`SELECT ${SLOT_COLUMNS} FROM pg_replication_slots s ORDER BY slot_name`);
  return rows.map(toSlotInfo);
}

export async function findSlot(sql: SqlConnection, name: string): Promise<SlotInfo | undefined> {
  const rows = await sql.query<SlotRow>(`SELECT ${SLOT_COLUMNS} FROM pg_replication_slots s WHERE slot_name = $1`, [name]);
  return rows[0] === undefined ? undefined : toSlotInfo(rows[0]);
}

export async function createSlot(sql: SqlConnection, name: string, plugin: string): Promise<SlotInfo> {
  validateSlotName(name);
  await sql.query('SELECT pg_create_logical_replication_slot($1, $2)', [name, plugin]);
  const slot = await findSlot(sql, name);
  if (slot === undefined) throw new CdcError('PGCDC_POSTGRES', `slot "${name}" vanished right after creation`);
  return slot;
}

export async function dropSlot(sql: SqlConnection, name: string): Promise<void> {
  const slot = await findSlot(sql, name);
  if (slot === undefined) throw new CdcError('PGCDC_SLOT_MISSING', `replication slot "${name}" does not exist; see existing slots with: pgcdc slot list`);
  if (slot.active) throw new CdcError('PGCDC_SLOT_IN_USE', `replication slot "${name}" is in use by process ${slot.activePid}; stop that consumer first`);
  await sql.query('SELECT pg_drop_replication_slot($1)', [name]);
}

/** Checks that an existing slot can be streamed by pgcdc with `plugin` from this database. */
export function checkSlotUsable(slot: SlotInfo, plugin: string, database: string): void {
  if (slot.slotType !== 'logical') {
    throw new CdcError('PGCDC_SLOT_PLUGIN_MISMATCH', `slot "${slot.name}" is a ${slot.slotType} slot; pgcdc needs a logical slot: choose another --slot`);
  }
  if (slot.plugin !== plugin) {
    throw new CdcError('PGCDC_SLOT_PLUGIN_MISMATCH', `slot "${slot.name}" uses plugin ${slot.plugin}, not ${plugin}; pass --plugin ${slot.plugin} or choose another --slot`);
  }
  if (slot.database !== database) {
    throw new CdcError('PGCDC_SLOT_PLUGIN_MISMATCH', `slot "${slot.name}" belongs to database "${slot.database}", not "${database}"; connect to that database or choose another --slot`);
  }
  if (slot.walStatus === 'lost') throw slotLostError(slot.name, slot.confirmedFlushLsn);
}

/**
 * A slot pgcdc delivered changes from (its delivered-position record says so)
 * that no longer exists: dropped behind pgcdc's back, or missing on a new
 * primary after a failover (PostgreSQL 14-16 do not carry slots over). A new
 * slot would start at the present and skip every change in between, silently.
 */
export function slotDroppedError(slot: string, delivered: Lsn): CdcError {
  return new CdcError('PGCDC_SLOT_LOST', `slot "${slot}" no longer exists (dropped, or not on this server after a failover), but pgcdc delivered its changes up to ${formatLsn(delivered)} (pgcdc.delivered): the changes after that are in no slot; to recover, forget it (pgcdc slot drop --slot ${slot}) and start again with a new slot and an initial snapshot (snapshot.mode: initial), or run pgcdc slot recover --config FILE (a pgcdc.gap event, then the tables read again)`);
}

/**
 * A slot the server invalidated (max_slot_wal_keep_size, or a conflict on a
 * standby): the changes after its position are gone, and creating a new slot and
 * carrying on would skip them silently. pgcdc stops and says how to recover.
 */
export function slotLostError(slot: string, confirmed: Lsn | null | undefined, cause?: unknown): CdcError {
  const since = confirmed ? ` after ${formatLsn(confirmed)} (its last confirmed position)` : '';
  return new CdcError('PGCDC_SLOT_LOST', `slot "${slot}" was invalidated by the server (wal_status=lost): the changes${since} are gone from the WAL; to recover, drop it (pgcdc slot drop --slot ${slot}) and start again with a new slot and an initial snapshot (snapshot.mode: initial), or run pgcdc slot recover --config FILE (a pgcdc.gap event, then the tables read again)`, { cause });
}

export function validateSlotName(name: string): void {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) {
    throw new CdcError('PGCDC_BAD_ARGUMENT', `invalid slot name "${name}": use 1-63 lower-case letters, digits and underscores`);
  }
}

/**
 * Failover slots a failover at this moment would lose (`pgcdc slot list`), as
 * one warning each. On a primary: synchronized_standby_slots names no standby
 * slot that is streaming, so no standby is known to keep a copy. On a standby:
 * a synchronized slot still temporary (not yet caught up), which a promotion
 * drops.
 */
export async function failoverWarnings(sql: SqlConnection, slots: SlotInfo[]): Promise<string[]> {
  const failover = slots.filter((s) => s.failover === true && s.synced !== true).map((s) => s.name);
  const [server] = await sql.query<{ recovery: boolean; standbys: string | null }>(`SELECT pg_is_in_recovery() AS recovery, current_setting('synchronized_standby_slots', true) AS standbys`);
  if (server!.recovery) {
    const pending = await sql.query<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots WHERE (to_jsonb(pg_replication_slots) ->> 'synced')::boolean AND temporary`);
    return pending.map((p) => `warning: slot ${p.slot_name} is being synchronized but not yet persisted on this standby: a promotion now would drop it (it persists once the standby has caught up with the slot's position)`);
  }
  if (failover.length === 0) return [];
  const names = (server!.standbys ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 0) return [`warning: no standby is known to keep a copy of the failover slot(s) ${failover.join(', ')}: synchronized_standby_slots is empty on this server; a failover now may lose them (set it to the standbys' physical slots, with sync_replication_slots = on on the standbys)`];
  const streaming = await sql.query<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' AND active AND slot_name = ANY($1)`, [names]);
  if (streaming.length > 0) return [];
  return [`warning: no standby named in synchronized_standby_slots (${names.join(', ')}) is streaming: the failover slot(s) ${failover.join(', ')} may not be on any standby, and logical decoding waits for them`];
}
