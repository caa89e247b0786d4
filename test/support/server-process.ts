/**
 * A test server process (nats-server, redis-server, ...): started on its loopback
 * port, ready when the port accepts, stopped by its pid (never by name), and
 * restartable with the same arguments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { trackServer, untrackServer } from './servers.ts';

export async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.setTimeout(500, () => { socket.destroy(); resolve(false); });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class ServerProcess {
  private child: ChildProcess | undefined;
  private readonly command: string;
  private readonly args: string[];
  private readonly port: number;

  constructor(command: string, args: string[], port: number) {
    this.command = command;
    this.args = args;
    this.port = port;
  }

  async start(): Promise<void> {
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    trackServer(this);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', (error) => { stderr += `cannot start ${this.command}: ${error.message}`; });
    try {
      await waitForPort(this.port, 10_000, this.command);
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${stderr.slice(-1000)}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    untrackServer(this);
    if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
