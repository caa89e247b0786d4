/** A real redis-server on a free loopback port, no persistence, stopped by its pid. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { ServerProcess } from './server-process.ts';

export interface TestRedis {
  port: number;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-redis-'));
  const port = await freePort();
  const process = new ServerProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], port);
  await process.start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start: () => process.start(),
    stop: () => process.stop(),
    async dispose() {
      await process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
