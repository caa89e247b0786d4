/** Exponential backoff with jitter, for sink retries and stream reconnects. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 20));
  return Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: restarts of many pipelines do not align
}
