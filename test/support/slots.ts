/** What the server says about positions: a slot's confirmed position and the current WAL position, as text (0/16B3C8). */
import type { TestPostgres } from './postgres.ts';

export async function confirmedLsn(server: TestPostgres, slot: string): Promise<string | undefined> {
  const rows = await server.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return rows[0]?.lsn ?? undefined;
}

export async function currentWalLsn(server: TestPostgres): Promise<string> {
  return (await server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
}
