/** A real nats-server with JetStream on a free loopback port, stopped by its pid. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { ServerProcess } from './server-process.ts';

export interface StreamMessage {
  subject: string;
  headers: Record<string, string>;
  data: string;
}

export interface TestNats {
  port: number;
  url: string;
  /** Up to `count` messages of a JetStream stream, read by a real consumer (waits up to 10 s for them). */
  readStream(stream: string, count: number): Promise<StreamMessage[]>;
  /** Messages a JetStream stream holds now (its state, not waiting for more). */
  messageCount(stream: string): Promise<number>;
  deleteStream(stream: string): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export interface NatsServerOptions {
  /** Clients must log in with these (nats-server --user/--pass); the helpers do. */
  user?: string;
  password?: string;
  /** More nats-server arguments (--tlscert ...). */
  args?: string[];
}

export async function startNats(options: NatsServerOptions = {}): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-nats-'));
  const port = await freePort();
  const binary = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
  const login = options.user ? ['--user', options.user, '--pass', options.password ?? ''] : [];
  const process = new ServerProcess(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, ...login, ...(options.args ?? [])], port);
  await process.start();
  const client: ConnectionOptions = { servers: `127.0.0.1:${port}`, ...(options.user ? { user: options.user, pass: options.password } : {}) };
  return {
    port,
    url: `127.0.0.1:${port}`,
    readStream: (stream, count) => readStream(client, stream, count),
    messageCount: (stream) => messageCount(client, stream),
    async deleteStream(stream) {
      const nc = await connect(client);
      try { await (await jetstreamManager(nc)).streams.delete(stream); } finally { await nc.close(); }
    },
    start: () => process.start(),
    stop: () => process.stop(),
    async dispose() {
      await process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function messageCount(client: ConnectionOptions, stream: string): Promise<number> {
  const nc = await connect(client);
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

async function readStream(client: ConnectionOptions, stream: string, count: number): Promise<StreamMessage[]> {
  const nc = await connect(client);
  try {
    const consumer = await jetstream(nc).consumers.get(stream);
    const messages: StreamMessage[] = [];
    const deadline = Date.now() + 10_000;
    while (messages.length < count && Date.now() < deadline) {
      const batch = await consumer.fetch({ max_messages: count - messages.length, expires: 1000 });
      for await (const m of batch) {
        const headers: Record<string, string> = {};
        for (const [k, v] of m.headers ?? []) headers[k] = v.join(',');
        messages.push({ subject: m.subject, headers, data: m.string() });
      }
    }
    return messages;
  } finally {
    await nc.close();
  }
}
