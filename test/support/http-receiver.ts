/** A test's own HTTP receiver (node:http) on a free loopback port, and its teardown. */
import type { Server } from 'node:http';

export async function listenOnLoopback(http: Server): Promise<number> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return (http.address() as { port: number }).port;
}

/** Closes the receiver, keep-alive connections included (they would hold the test process). */
export function closeReceiver(http: Server | undefined): void {
  http?.closeAllConnections();
  http?.close();
}
