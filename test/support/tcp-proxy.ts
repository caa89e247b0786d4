/**
 * A TCP proxy on a free loopback port in front of a real server, to cut a
 * client's connections and refuse new ones (a network partition) and then heal,
 * without restarting a server that takes seconds to start. With `delayMs`, every
 * chunk is held that long in each direction, in order: a server farther away
 * (a round trip of 2 × delayMs; bench/sinks.ts, `nats-remote`).
 */
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroys every open connection and refuses new ones until heal(). */
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, options: { delayMs?: number } = {}): Promise<TcpProxy> {
  const delayMs = options.delayMs ?? 0;
  const sockets = new Set<Socket>();
  let partitioned = false;
  const server = createServer((client) => {
    if (partitioned) { client.destroy(); return; }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    if (delayMs === 0) {
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      return;
    }
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.setNoDelay(true);
      from.on('data', (chunk) => setTimeout(() => to.write(chunk), delayMs));
      from.on('close', () => setTimeout(() => to.destroy(), delayMs));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    partition() {
      partitioned = true;
      for (const s of sockets) s.destroy();
    },
    heal() { partitioned = false; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
