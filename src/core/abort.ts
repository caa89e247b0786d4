/**
 * Stopping by AbortSignal, as PowerSync and the platform do: one signal is
 * handed down to what a component starts, and aborting it stops all of it.
 */
import { CdcError } from './errors.ts';

/** Throws PGCDC_ABORTED (with the signal's reason as cause) when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CdcError('PGCDC_ABORTED', `${what} was stopped by its AbortSignal before it was ready`, { cause: signal.reason });
}

/** Calls `onAbort` once when `signal` aborts (at once if it already has); returns the unsubscribe. */
export function onAbort(signal: AbortSignal | undefined, onAbort: () => void): () => void {
  if (signal === undefined) return () => undefined;
  if (signal.aborted) {
    onAbort();
    return () => undefined;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
