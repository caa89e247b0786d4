/** What the server must offer before pgcdc starts, checked up front for clear errors. */
import { CdcError } from '../core/errors.ts';
import { walLevelError } from './postgres-errors.ts';
import type { SqlConnection } from './sql-connection.ts';

export interface ServerInfo {
  versionNum: number;
  major: number;
  database: string;
  /** pgoutput protocol version to request: 2 on 14, 3 on 15, 4 on 16 and later. */
  protocolVersion: number;
}

export const MIN_SERVER_MAJOR = 14;

export async function checkServer(sql: SqlConnection): Promise<ServerInfo> {
  const [row] = await sql.query<{ version: string; wal_level: string; db: string; replication: boolean; superuser: boolean }>(
    `SELECT current_setting('server_version_num') AS version, current_setting('wal_level') AS wal_level, current_database() AS db,
            r.rolreplication AS replication, r.rolsuper AS superuser
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  if (row === undefined) throw new CdcError('PGCDC_POSTGRES', 'could not read server settings');
  const versionNum = Number(row.version);
  const major = Math.floor(versionNum / 10000);
  if (major < MIN_SERVER_MAJOR) {
    throw new CdcError('PGCDC_SERVER_TOO_OLD', `PostgreSQL ${major} is not supported: pgcdc needs ${MIN_SERVER_MAJOR} or newer (streaming of large transactions, logical messages in pgoutput)`);
  }
  if (row.wal_level !== 'logical') throw walLevelError(row.wal_level);
  if (!row.replication && !row.superuser) {
    throw new CdcError('PGCDC_NO_REPLICATION_PRIVILEGE', `role ${sql.context.user ?? 'current_user'} lacks the REPLICATION attribute; grant it with: ALTER ROLE ${sql.context.user ?? '<user>'} WITH REPLICATION`);
  }
  return { versionNum, major, database: row.db, protocolVersion: protocolVersionFor(major) };
}

export function protocolVersionFor(major: number): number {
  if (major >= 16) return 4;
  if (major === 15) return 3;
  return 2;
}
