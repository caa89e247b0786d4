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

/**
 * `work`, or PGCDC_ABORTED as soon as `signal` aborts (the work itself runs on:
 * the caller releases what it may have opened).
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(new CdcError('PGCDC_ABORTED', `${what} was stopped by its AbortSignal before it was ready`, { cause: signal.reason })));
    work.then((value) => { stop(); resolve(value); }, (error: unknown) => { stop(); reject(error); });
  });
}

/**
 * Opens something that may take long (connections), unless `signal` aborts
 * first: then PGCDC_ABORTED, and what the opening still produces is released
 * once it is done, so nothing is left open.
 */
export async function abortableOpen<T>(opening: Promise<T>, signal: AbortSignal | undefined, what: string, release: (opened: T) => Promise<unknown>): Promise<T> {
  try {
    return await abortable(opening, signal, what);
  } catch (error) {
    opening.then(release, () => undefined).catch(() => undefined);
    throw error;
  }
}

