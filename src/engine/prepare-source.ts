/**
 * Everything that happens before streaming starts: connect, check the server,
 * ensure the publication, read the catalog (types, primary keys), find or create
 * the slot. Existing slots are used as they are, never dropped or recreated.
 */
import { clearLostSlot, forgetLostSlot } from './slot-recovery.ts';
import { GAP_PREFIX, type SlotGap } from '../events/gap-event.ts';
import { DeliveredPositionRecord } from '../source/delivered-position.ts';
import { CdcError } from '../core/errors.ts';
import { formatLsn, type Lsn, LSN_ZERO } from '../core/lsn.ts';
import { TypeRegistry } from '../decode/values/type-registry.ts';
import { resolveConnection, type ConnectionTarget } from '../source/connection-config.ts';
import { ensurePublication, parseTableName, type PublicationOutcome, type QualifiedTable } from '../source/publications.ts';
import { identityFix } from '../source/replica-identity.ts';
import { ReplicationConnection } from '../source/replication-connection.ts';
import { checkServer, type ServerInfo } from '../source/server-checks.ts';
import { checkSlotUsable, findSlot, slotDroppedError, validateSlotName, type SlotInfo } from '../source/slots.ts';
import { SqlConnection } from '../source/sql-connection.ts';
import { loadPrimaryKeys, loadTypes } from '../source/type-catalog.ts';
import type { ChangeStreamOptions } from './change-stream-types.ts';
import { beginSnapshotTransaction } from '../snapshot/initial-snapshot.ts';
import { SnapshotStateFile, type SnapshotState } from '../snapshot/snapshot-state.ts';
import { snapshotTables } from '../snapshot/snapshot-tables.ts';
import { closeSnapshotReaders, type PlannedSnapshot } from '../snapshot/initial-snapshot-batches.ts';

export type { PlannedSnapshot } from '../snapshot/initial-snapshot-batches.ts';

export interface PreparedSource {
  replication: ReplicationConnection;
  sql: SqlConnection;
  registry: TypeRegistry;
  primaryKeys: Map<number, string[]>;
  server: ServerInfo;
  slot: string;
  publication: string;
  /** What the slot streams: the publication, and its companion of keyless tables' inserts when there is one. */
  publicationNames: string[];
  /** The slot's confirmed position: streaming starts here. */
  startLsn: Lsn;
  slotCreated: boolean;
  /** pgcdc created the publication for a slot that already existed (see change-stream onEnd). */
  publicationNewerThanSlot: boolean;
  snapshot: PlannedSnapshot | undefined;
  /** pgcdc's own record of the acknowledged position (source/delivered-position.ts), when it can keep one. */
  delivered: DeliveredPositionRecord | undefined;
  /** Opens another SQL connection to the same server (incremental snapshot chunks). */
  openSql: () => Promise<SqlConnection>;
}

export async function prepareSource(options: ChangeStreamOptions): Promise<PreparedSource> {
  const target = resolveConnection(options.connection);
  const slot = options.slot ?? 'pgcdc';
  const publication = options.publication ?? 'pgcdc';
  validateSlotName(slot);
  const context = { slot, publication };
  const sql = await SqlConnection.open(target, context);
  let replication: ReplicationConnection | undefined;
  let snapshot: PlannedSnapshot | undefined;
  let slotCreatedHere: string | undefined;
  try {
    const server = await checkServer(sql);
    const plugin = options.plugin ?? 'pgoutput';
    const tables = (options.publicationTables ?? []).map(parseTableName);
    // Publications choose tables for pgoutput only; the text plugins send every table.
    const outcome = plugin === 'pgoutput' ? await ensurePublication(sql, publication, tables) : undefined;
    const publicationCreated = outcome !== undefined && publicationNotices(publication, outcome, options.onNotice);
    const publicationNames = outcome?.companion === undefined ? [publication] : [publication, outcome.companion];
    const registry = new TypeRegistry();
    await loadTypes(sql, registry);
    const primaryKeys = new Map<number, string[]>();
    await loadPrimaryKeys(sql, primaryKeys);
    replication = await ReplicationConnection.open(target, context);
    let startLsn: Lsn;
    let slotCreated = false;
    let exportedSnapshot: string | undefined;
    let existing = await waitForInactiveSlot(sql, slot, options.slotWaitMs ?? 5000);
    // Not for temporary slots (gone with their connection) nor text plugins (they would stream the record's own rows).
    const delivered = plugin === 'pgoutput' && !options.temporary && options.deliveredRecord !== false
      ? await DeliveredPositionRecord.open(sql, slot, await replication.identifySystem(), publicationNames, (message) => options.onNotice?.(message))
      : undefined;
    const lastDelivered = existing === undefined ? await delivered?.last() : undefined;
    let gap: SlotGap | undefined;
    if (options.onSlotLost === 'resnapshot' && (existing?.walStatus === 'lost' || lastDelivered !== undefined)) {
      gap = await clearLostSlot(sql, slot, existing, lastDelivered);
      options.onNotice?.(`slot ${slot} was lost (${gap.reason}) after ${gap.lostAfter ?? 'an unknown position'}: onSlotLost resnapshot makes a new slot, sends a ${GAP_PREFIX} event, and reads the tables again`);
      existing = undefined;
    }
    // A lost slot is replaced by reading the tables again, whatever snapshot.mode says.
    const snapshotMode = gap !== undefined ? 'initial' : options.snapshot?.mode ?? 'never';
    if (existing !== undefined) {
      checkSlotUsable(existing, plugin, server.database);
      startLsn = existing.confirmedFlushLsn ?? LSN_ZERO;
      const ahead = await delivered?.aheadOf(startLsn);
      if (ahead !== undefined) {
        options.onNotice?.(`resuming slot ${slot} at ${formatLsn(ahead)} from pgcdc's delivered-position record: the slot was back at ${formatLsn(startLsn)} (PostgreSQL restarted before saving its position), so what the sink already has is skipped`);
        startLsn = ahead;
      }
    } else {
      if (lastDelivered !== undefined && gap === undefined) throw slotDroppedError(slot, lastDelivered);
      if (options.createSlot === false) {
        throw new CdcError('PGCDC_SLOT_MISSING', `replication slot "${slot}" does not exist; create it with: pgcdc slot create --slot ${slot}`);
      }
      if (snapshotMode !== 'never' && !options.temporary) {
        // Written before the slot exists: a kill -9 anywhere between creating the
        // slot and reading its first row leaves an unfinished snapshot to resume,
        // never a slot whose rows look read.
        // A lost slot's gap goes in too: if the kill comes before it is delivered, the resumed snapshot delivers it.
        stateFileOf(options)?.write({ ...newSnapshotState(slot, 'before slot creation'), ...(gap ? { gap } : {}) });
      }
      // PostgreSQL 17+: a failover slot, so that a standby that syncs slots has it when promoted.
      const failover = options.failover !== false && server.versionNum >= 170000 && !(options.temporary ?? false);
      const created = await replication.createSlot(slot, plugin, options.temporary ?? false, snapshotMode !== 'never', failover);
      startLsn = created.consistentPoint;
      exportedSnapshot = created.snapshotName;
      slotCreated = true;
      if (snapshotMode !== 'never') slotCreatedHere = slot;
      options.onNotice?.(`created ${options.temporary ? 'temporary ' : ''}slot ${slot} at ${formatLsn(startLsn)}${failover ? await failoverNote(sql) : ''}`);
    }
    // The exported snapshot must be imported before the replication
    // connection's next command (START_REPLICATION) releases it: planned now.
    snapshot = await planSnapshot(gap === undefined ? options : { ...options, snapshot: { ...options.snapshot, mode: 'initial' } }, { target, context, server, startLsn, slotCreated, exportedSnapshot });
    if (gap !== undefined && snapshot !== undefined) {
      snapshot.state.gap = { ...gap, resumedAt: formatLsn(startLsn) };
      snapshot.stateFile?.write(snapshot.state);
    }
    if (gap !== undefined) await forgetLostSlot(sql, slot);
    const openSql = () => SqlConnection.open(target, context);
    return { replication, sql, registry, primaryKeys, server, slot, publication, publicationNames, startLsn, slotCreated, publicationNewerThanSlot: publicationCreated && !slotCreated, snapshot, delivered, openSql };
  } catch (error) {
    if (snapshot) await closeSnapshotReaders(snapshot.readers);
    await replication?.close();
    if (slotCreatedHere !== undefined) {
      // The snapshot could not start on a slot created moments ago: drop it, so the
      // next start creates it again and snapshots, rather than finding a slot
      // whose rows were never read.
      await sql.query('SELECT pg_drop_replication_slot($1)', [slotCreatedHere]).catch(() => undefined);
    }
    await sql.close();
    throw error;
  }
}

interface SnapshotContext {
  target: ConnectionTarget;
  context: { slot: string; publication: string };
  server: ServerInfo;
  startLsn: Lsn;
  slotCreated: boolean;
  exportedSnapshot: string | undefined;
}

/**
 * The initial snapshot to read before streaming, if any: on a slot created now
 * (in its exported snapshot), to resume an interrupted one, or every start with
 * `always`. Its transaction is begun here; its state is written before any row.
 */
async function planSnapshot(options: ChangeStreamOptions, at: SnapshotContext): Promise<PlannedSnapshot | undefined> {
  const mode = options.snapshot?.mode ?? 'never';
  if (mode === 'never') return undefined;
  const stateFile = stateFileOf(options);
  const saved = stateFile?.read();
  const resumable = !at.slotCreated && saved !== undefined && saved.slot === at.context.slot && !saved.done;
  if (!at.slotCreated && !resumable && mode !== 'always') return undefined;
  const readers = [await SqlConnection.open(at.target, at.context)];
  try {
    await beginSnapshotTransaction(readers[0]!, at.exportedSnapshot);
    const tables = await snapshotTables(readers[0]!, {
      publication: at.context.publication, serverVersionNum: at.server.versionNum, keylessByPosition: true,
      ...(options.snapshot?.tables ? { tables: options.snapshot.tables } : {}),
      ...(options.snapshot?.keys ? { keys: options.snapshot.keys } : {}),
    });
    // More readers than tables-or-ranges would idle, but ranges are found later (key-ranges.ts), so all are opened.
    // They join now, while the slot's exported snapshot is still valid (until replication starts).
    readers.push(...await joinSnapshot(readers[0]!, at, (options.snapshot?.parallelism ?? 1) - 1));
    const state: SnapshotState = resumable ? saved : newSnapshotState(at.context.slot, formatLsn(at.startLsn));
    // Written before any row is read (`always` on an existing slot included).
    if (!resumable) stateFile?.write(state);
    options.onNotice?.(`${resumable ? 'resuming the' : 'starting an'} initial snapshot of ${tables.length} table(s) at ${formatLsn(at.startLsn)}${at.exportedSnapshot !== undefined ? ", in the slot's exported snapshot" : ''}${readers.length > 1 ? `, ${readers.length} readers` : ''}`);
    return {
      readers, tables, state, stateFile, lsn: at.startLsn,
      chunkSize: options.snapshot?.chunkSize ?? 2_000,
      exported: at.exportedSnapshot !== undefined, resumed: resumable,
    };
  } catch (error) {
    await closeSnapshotReaders(readers);
    throw error;
  }
}

/**
 * `count` more connections, each in a transaction that sees exactly what the
 * first reader sees: the slot's exported snapshot, or else one the first
 * reader's transaction exports now (pg_export_snapshot), so rows read by
 * different readers are consistent with one another and with the stream.
 */
async function joinSnapshot(first: SqlConnection, at: SnapshotContext, count: number): Promise<SqlConnection[]> {
  if (count <= 0) return [];
  const snapshot = at.exportedSnapshot ?? (await first.query<{ id: string }>('SELECT pg_export_snapshot() AS id'))[0]!.id;
  const joined: SqlConnection[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const sql = await SqlConnection.open(at.target, at.context);
      joined.push(sql);
      await beginSnapshotTransaction(sql, snapshot);
    }
    return joined;
  } catch (error) {
    await closeSnapshotReaders(joined);
    throw error;
  }
}

function stateFileOf(options: ChangeStreamOptions): SnapshotStateFile | undefined {
  return options.snapshot?.stateFile ? new SnapshotStateFile(options.snapshot.stateFile) : undefined;
}

function newSnapshotState(slot: string, lsn: string): SnapshotState {
  return { slot, lsn, startedAt: new Date().toISOString(), tables: {}, done: false };
}

/**
 * Finds the slot, waiting up to `waitMs` while it is active: right after a
 * consumer disconnects its walsender may still hold the slot for a moment.
 */
async function waitForInactiveSlot(sql: SqlConnection, slot: string, waitMs: number): Promise<SlotInfo | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const found = await findSlot(sql, slot);
    if (found === undefined || !found.active) return found;
    if (Date.now() >= deadline) {
      throw new CdcError('PGCDC_SLOT_IN_USE', `replication slot "${slot}" is in use by process ${found.activePid}; stop that consumer, or use another --slot`, { retriable: true });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * pgoutput reads the publication as it was at each change's position, so a
 * publication created after the slot's position "does not exist" for the changes
 * in between, although it exists now. Say so, rather than "create it".
 */
export function explainPublicationMissing(error: CdcError | undefined, publication: string, slot: string, startLsn: Lsn): CdcError | undefined {
  if (error?.code !== 'PGCDC_PUBLICATION_MISSING') return error;
  return new CdcError('PGCDC_PUBLICATION_MISSING', `publication "${publication}" was created after slot "${slot}"'s position (${formatLsn(startLsn)}); pgoutput cannot read changes from before it with that publication: use a publication that existed then, or create a new slot (the old position's changes are then skipped)`, { cause: error });
}

/** Says what ensurePublication did; returns whether it created the publication. */
function publicationNotices(name: string, outcome: PublicationOutcome, notice: ((message: string) => void) | undefined): boolean {
  const list = (tables: QualifiedTable[]) => tables.map((t) => `${t.schema}.${t.table}`).join(', ');
  if (outcome.created) {
    notice?.(`created publication ${name} for ${outcome.tables.length === 0 ? 'no tables yet' : list(outcome.tables)}${outcome.leftOut.length === 0 ? '' : `; inserts and truncates only (publication ${outcome.companion}), having no primary key or replica identity (publishing their updates would fail the application's UPDATE and DELETE): ${list(outcome.leftOut)}; for their updates and deletes: ${identityFix(outcome.leftOut[0]!)}, then ALTER PUBLICATION ${name} ADD TABLE it`}; tables created later are published once added (ALTER PUBLICATION ${name} ADD TABLE ...)`);
  }
  if (outcome.unsafe.length > 0) {
    notice?.(`warning: publication ${name} publishes updates and deletes of ${list(outcome.unsafe)}, which ${outcome.unsafe.length === 1 ? 'has' : 'have'} no primary key or replica identity: the application's UPDATE and DELETE on ${outcome.unsafe.length === 1 ? 'it' : 'them'} fail; run ${outcome.unsafe.map(identityFix).join('; ')}`);
  }
  return outcome.created;
}

/** How a new failover slot reaches standbys: synchronized_standby_slots names them, or a failover now would lose the slot. */
async function failoverNote(sql: SqlConnection): Promise<string> {
  const [row] = await sql.query<{ standbys: string | null }>(`SELECT current_setting('synchronized_standby_slots', true) AS standbys`);
  const standbys = row?.standbys ?? '';
  return standbys === ''
    ? ' (a failover slot; synchronized_standby_slots is empty on this server, so a standby promoted now may not have it: set it to the standbys\' physical slots, with sync_replication_slots = on on them)'
    : ` (a failover slot, synchronized to the standbys of ${standbys})`;
}

