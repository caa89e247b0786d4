/**
 * A Kafka protocol peer: librdkafka's mock cluster hosted by `kcat` (Debian's
 * kcat), the way ../shared/TESTING.md describes. No real Kafka broker runs here;
 * the mock is Confluent's own implementation of the protocol used to test
 * librdkafka (Produce, Fetch, Metadata, InitProducerId for idempotence). Topics
 * are auto-created with 4 partitions. Records are read back with kcat too.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { trackServer, untrackServer } from './servers.ts';

const run = promisify(execFile);

export interface TestKafka {
  /** Bootstrap list: host:port of the mock's brokers. */
  bootstrap: string;
  /** Consumes a topic from the beginning with kcat, formatted by `format` (kcat -f). */
  consume(topic: string, format: string, options?: { count?: number }): Promise<string>;
  /** Freezes the mock's process (SIGSTOP): every broker stops answering, connections stay open, as a hung broker host. */
  pause(): void;
  /** Lets it run again (SIGCONT). */
  resume(): void;
  dispose(): Promise<void>;
}

export async function startKafkaMock(brokers = 3): Promise<TestKafka> {
  const child: ChildProcess = spawn('kcat', ['-b', 'unused:1', '-X', `test.mock.num.brokers=${brokers}`, '-C', '-t', 'pgcdc-idle', '-o', 'end', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = async () => {
    untrackServer(handle);
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const handle = { stop };
  trackServer(handle);
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`kcat mock cluster did not start: ${stderr}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /replaced with ([^\s]+)/.exec(stderr);
      if (match) { clearTimeout(timer); resolve(match[1]!.replace(/[.,;]$/, '')); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`kcat exited with ${code}: ${stderr}`)); });
    child.once('error', (error) => { clearTimeout(timer); reject(new Error(`kcat did not start (${error.message}): install Debian's kcat`)); });
  }).catch(async (error: unknown) => { await stop(); throw error; });
  return {
    bootstrap,
    async consume(topic, format, options = {}) {
      const args = ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', format];
      if (options.count !== undefined) args.push('-c', String(options.count));
      const { stdout } = await run('kcat', args, { timeout: 30_000, maxBuffer: 256 * 1024 * 1024 });
      return stdout;
    },
    pause: () => { child.kill('SIGSTOP'); },
    resume: () => { child.kill('SIGCONT'); },
    dispose: async () => { child.kill('SIGCONT'); await stop(); },
  };
}
