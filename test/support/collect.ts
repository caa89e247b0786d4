/** Reads events from a change stream in tests, confirming each batch, with a deadline. */
import type { ChangeStream } from '../../src/engine/change-stream.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';

export async function collectEvents(stream: ChangeStream, count: number, timeoutMs = 15_000): Promise<ChangeEvent[]> {
  const events: ChangeEvent[] = [];
  const timer = setTimeout(() => stream.requestStop(), timeoutMs);
  try {
    const iterator = stream[Symbol.asyncIterator]();
    while (events.length < count) {
      const next = await iterator.next();
      if (next.done) break;
      events.push(...next.value.events);
      next.value.confirm();
    }
    await iterator.return?.();
  } finally {
    clearTimeout(timer);
  }
  if (events.length < count) throw new Error(`expected ${count} events, got ${events.length} within ${timeoutMs} ms: ${JSON.stringify(events.map((e) => e.op))}`);
  return events;
}

/** Waits until `condition` is true, polling; throws with `what` on timeout. */
export async function eventually<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await probe();
  }
  return last;
}
