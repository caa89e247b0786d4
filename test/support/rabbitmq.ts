/**
 * A real RabbitMQ broker (Debian's rabbitmq-server), started once per test file
 * with its own node name, ports and directories, as ../shared/TESTING.md
 * describes: its own epmd on a free loopback port first, then the server; ready
 * when the AMQP port accepts. Stopped by pid, never by name.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { waitForPort } from './server-process.ts';
import { trackServer, untrackServer } from './servers.ts';

export interface TestRabbitMq {
  url: string;
  /** The same broker over TLS (amqps://localhost:port), its certificate signed by `caFile`'s CA. */
  tlsUrl: string;
  caFile: string;
  /** Runs rabbitmqctl against this broker (users, permissions); resolves with its output. */
  ctl(...args: string[]): Promise<string>;
  dispose(): Promise<void>;
}

export async function startRabbitMq(): Promise<TestRabbitMq> {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-rabbitmq-'));
  const [port, distPort, epmdPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  for (const sub of ['home', 'mnesia', 'log']) mkdirSync(join(dir, sub));
  // A CA and a server certificate for "localhost", as a real deployment has.
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pgcdc test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
  writeFileSync(join(dir, 'rabbitmq.conf'), [
    `listeners.tcp.default = 127.0.0.1:${port}`,
    `listeners.ssl.default = 127.0.0.1:${tlsPort}`,
    `ssl_options.cacertfile = ${join(dir, 'ca.pem')}`,
    `ssl_options.certfile = ${join(dir, 'server.pem')}`,
    `ssl_options.keyfile = ${join(dir, 'server.key')}`,
    'ssl_options.verify = verify_none',
    'ssl_options.fail_if_no_peer_cert = false',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const epmd = spawn('epmd', ['-address', '127.0.0.1', '-port', String(epmdPort)], { stdio: 'ignore' });
  await waitForPort(epmdPort, 5000, 'epmd');
  const env = {
    ...process.env,
    HOME: join(dir, 'home'),
    RABBITMQ_NODENAME: `pgcdc-test-${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const server: ChildProcess = spawn('/usr/lib/rabbitmq/bin/rabbitmq-server', [], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const handle = { stop: () => stopAll() };
  trackServer(handle);
  const stopAll = async () => {
    untrackServer(handle);
    // rabbitmq-server is a shell script that execs erl: kill the whole process group.
    if (server.exitCode === null && server.pid !== undefined) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      try { process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
      await exited;
    }
    if (epmd.exitCode === null) {
      const exited = new Promise((resolve) => epmd.once('exit', resolve));
      epmd.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 60_000, 'rabbitmq-server');
  } catch (error) {
    await stopAll();
    throw new Error(`${(error as Error).message}: ${stderr.slice(-2000)}`);
  }
  const ctl = async (...args: string[]) => (await promisify(execFile)('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-n', env.RABBITMQ_NODENAME, ...args], { env })).stdout;
  await waitForPort(tlsPort, 30_000, 'rabbitmq-server (TLS)');
  return { url: `amqp://guest:guest@127.0.0.1:${port}`, tlsUrl: `amqps://guest:guest@localhost:${tlsPort}`, caFile: join(dir, 'ca.pem'), ctl, dispose: stopAll };
}
