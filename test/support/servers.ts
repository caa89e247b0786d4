/**
 * Servers a test file started, so that none outlives the file: a file whose
 * `before` fails halfway, or that hits its deadline (file-deadline.ts), stops
 * what it did start instead of leaving a child process that keeps the test run
 * waiting.
 */
interface Stoppable { stop(): Promise<void> }
const running = new Set<Stoppable>();

/** Remembers a server that started, until `untrackServer` (its stop). */
export function trackServer(server: Stoppable): void {
  running.add(server);
}

export function untrackServer(server: Stoppable): void {
  running.delete(server);
}

/** Stops every server still running (in parallel), each given at most `timeoutMs`. */
export async function stopAllServers(timeoutMs = 10_000): Promise<void> {
  await Promise.all([...running].map((server) => Promise.race([
    server.stop().catch(() => undefined),
    new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ])));
}

/**
 * Starts servers side by side. If any fails to start, the ones that did start
 * are stopped before the error is thrown (Promise.all would leave them running
 * and the file hanging).
 */
export async function startTogether<T extends readonly unknown[]>(
  starters: { [K in keyof T]: () => Promise<T[K]> },
  stop: (server: T[number]) => Promise<void>,
): Promise<T> {
  const results = await Promise.allSettled(starters.map((start) => start()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed === undefined) return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? stop(r.value as T[number]).catch(() => undefined) : undefined)));
  throw failed.reason;
}
