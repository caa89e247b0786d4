/**
 * Debian's PostgreSQL 15 (apt packages postgresql-15 and postgresql-15-wal2json):
 * the one server here with wal2json, and the home of pg_recvlogical. Started on a
 * free loopback port as the `postgres` OS user, trust authentication, stopped by
 * its data directory (pg_ctl), never by process name.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/demo/embedded-postgres.ts';

export const DEBIAN_PG_BIN = '/usr/lib/postgresql/15/bin';

export interface DebianPostgres {
  port: number;
  dataDir: string;
  url(database?: string): string;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<Row[]>;
  stop(): Promise<void>;
}

const asPostgres = (command: string, args: string[]) =>
  process.getuid?.() === 0 ? execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'pipe' }) : execFileSync(command, args, { stdio: 'pipe' });

/**
 * PostgreSQL's 2026 minor releases (15.20 here) let REPLICATION roles decode only
 * with the plugins listed in output_plugin_libraries (pgoutput, test_decoding by
 * default); older ones have no such setting.
 */
export function hasOutputPluginAllowList(): boolean {
  return execFileSync(`${DEBIAN_PG_BIN}/postgres`, ['--describe-config'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }).includes('output_plugin_libraries');
}

export function wal2jsonAvailable(): boolean {
  return existsSync(`${DEBIAN_PG_BIN}/pg_ctl`) && existsSync('/usr/lib/postgresql/15/lib/wal2json.so');
}

export async function startDebianPostgres(): Promise<DebianPostgres> {
  if (!wal2jsonAvailable()) {
    throw new Error('Debian PostgreSQL 15 with wal2json is needed: apt-get install postgresql-15 postgresql-15-wal2json (.ci/run does this)');
  }
  const root = mkdtempSync(join(tmpdir(), 'pgcdc-debian15-'));
  chmodSync(root, 0o777);
  const dataDir = join(root, 'data');
  const port = await freePort();
  asPostgres(`${DEBIAN_PG_BIN}/initdb`, ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth=trust', '--no-sync']);
  writeFileSync(join(root, 'extra.conf'), [
    `port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${root}'`, 'wal_level = logical',
    'max_replication_slots = 20', 'max_wal_senders = 20', 'fsync = off', 'synchronous_commit = off',
    ...(hasOutputPluginAllowList() ? [`output_plugin_libraries = 'pgoutput, test_decoding, wal2json'`] : []), '',
  ].join('\n'));
  chmodSync(join(root, 'extra.conf'), 0o644);
  asPostgres('sh', ['-c', `echo "include '${join(root, 'extra.conf')}'" >> ${dataDir}/postgresql.conf`]);
  asPostgres(`${DEBIAN_PG_BIN}/pg_ctl`, ['-D', dataDir, '-l', join(root, 'server.log'), '-w', '-t', '60', 'start']);
  const url = (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    dataDir,
    url,
    async query<Row>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<Row[]> {
      const client = new pg.Client({ connectionString: url(database) });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as Row[];
      } finally {
        await client.end();
      }
    },
    async stop() {
      try {
        asPostgres(`${DEBIAN_PG_BIN}/pg_ctl`, ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
