/** A real nats-server with JetStream on a free loopback port, stopped by its pid. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
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
    readStream: (stream, count) => readStream(`127.0.0.1:${port}`, stream, count),
    messageCount: (stream) => messageCount(`127.0.0.1:${port}`, stream),
    start: () => process.start(),
    stop: () => process.stop(),
    async dispose() {
      await process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function messageCount(url: string, stream: string): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

async function readStream(url: string, stream: string, count: number): Promise<StreamMessage[]> {
  const nc = await connect({ servers: url });
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
