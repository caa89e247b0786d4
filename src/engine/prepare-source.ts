/**
 * Everything that happens before streaming starts: connect, check the server,
 * ensure the publication, read the catalog (types, primary keys), find or create
 * the slot. Existing slots are used as they are, never dropped or recreated.
 */
import { CdcError } from '../core/errors.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import { TypeRegistry } from '../decode/values/type-registry.ts';
import { resolveConnection } from '../source/connection-config.ts';
import { ensurePublication, parseTableName } from '../source/publications.ts';
import { ReplicationConnection } from '../source/replication-connection.ts';
import { checkServer, type ServerInfo } from '../source/server-checks.ts';
import { checkSlotUsable, findSlot, validateSlotName, type SlotInfo } from '../source/slots.ts';
import { SqlConnection } from '../source/sql-connection.ts';
import { loadPrimaryKeys, loadTypes } from '../source/type-catalog.ts';
import type { ChangeStreamOptions } from './change-stream-types.ts';

export interface PreparedSource {
  replication: ReplicationConnection;
  sql: SqlConnection;
  registry: TypeRegistry;
  primaryKeys: Map<number, string[]>;
  server: ServerInfo;
  slot: string;
  publication: string;
  /** The slot's confirmed position: streaming starts here. */
  startLsn: Lsn;
  slotCreated: boolean;
  /** pgcdc created the publication for a slot that already existed (see change-stream onEnd). */
  publicationNewerThanSlot: boolean;
}

export async function prepareSource(options: ChangeStreamOptions): Promise<PreparedSource> {
  const target = resolveConnection(options.connection);
  const slot = options.slot ?? 'pgcdc';
  const publication = options.publication ?? 'pgcdc';
  validateSlotName(slot);
  const context = { slot, publication };
  const sql = await SqlConnection.open(target, context);
  let replication: ReplicationConnection | undefined;
  try {
    const server = await checkServer(sql);
    const plugin = options.plugin ?? 'pgoutput';
    const tables = (options.publicationTables ?? []).map(parseTableName);
    // Publications choose tables for pgoutput only; the text plugins send every table.
    let publicationCreated = false;
    if (plugin === 'pgoutput' && await ensurePublication(sql, publication, tables)) {
      publicationCreated = true;
      options.onNotice?.(`created publication ${publication} ${tables.length ? `for ${tables.map((t) => `${t.schema}.${t.table}`).join(', ')}` : 'for all tables'}`);
    }
    const registry = new TypeRegistry();
    await loadTypes(sql, registry);
    const primaryKeys = new Map<number, string[]>();
    await loadPrimaryKeys(sql, primaryKeys);
    replication = await ReplicationConnection.open(target, context);
    let startLsn: Lsn;
    let slotCreated = false;
    const existing = await waitForInactiveSlot(sql, slot, options.slotWaitMs ?? 5000);
    if (existing !== undefined) {
      checkSlotUsable(existing, plugin, server.database);
      startLsn = existing.confirmedFlushLsn ?? 0n;
    } else {
      if (options.createSlot === false) {
        throw new CdcError('PGCDC_SLOT_MISSING', `replication slot "${slot}" does not exist; create it with: pgcdc slot create --slot ${slot}`);
      }
      startLsn = await replication.createSlot(slot, plugin, options.temporary ?? false);
      slotCreated = true;
      options.onNotice?.(`created ${options.temporary ? 'temporary ' : ''}slot ${slot} at ${formatLsn(startLsn)}`);
    }
    return { replication, sql, registry, primaryKeys, server, slot, publication, startLsn, slotCreated, publicationNewerThanSlot: publicationCreated && !slotCreated };
  } catch (error) {
    await replication?.close();
    await sql.close();
    throw error;
  }
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
