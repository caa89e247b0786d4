/** A real nats-server with JetStream on a free loopback port, stopped by its pid. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { ServerProcess } from './server-process.ts';

export interface TestNats {
  port: number;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startNats(): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-nats-'));
  const port = await freePort();
  const binary = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
  const process = new ServerProcess(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], port);
  await process.start();
  return {
    port,
    url: `127.0.0.1:${port}`,
    start: () => process.start(),
    stop: () => process.stop(),
    async dispose() {
      await process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
