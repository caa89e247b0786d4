/**
 * Groups that enter a pipeline from outside its stream: dead letters an
 * operator retries from the console. They go through the same write window as
 * the stream's groups (same sink, same write order, same retries), so a retry
 * never races the stream's own writes to the sink.
 *
 * The run loop races the next stream group against `arrival()`. Each race gets
 * a new promise, settled (and so let go of) when the race is over: racing many
 * times against one long-pending promise would pile reactions onto it.
 */
import type { PreparedBatch } from './ready-groups.ts';

export const REDELIVERY = Symbol('redelivery');

export class Redeliveries {
  private readonly waiting: PreparedBatch[][] = [];
  private wake: ((value: typeof REDELIVERY | undefined) => void) | undefined;

  add(group: PreparedBatch[]): void {
    this.waiting.push(group);
    this.wake?.(REDELIVERY);
  }

  /** Resolves with REDELIVERY when a group waits; with undefined once `endRace()` is called. */
  arrival(): Promise<typeof REDELIVERY | undefined> {
    this.endRace();
    if (this.waiting.length > 0) return Promise.resolve(REDELIVERY);
    return new Promise((resolve) => { this.wake = resolve; });
  }

  endRace(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.(undefined);
  }

  take(): PreparedBatch[] | undefined {
    return this.waiting.shift();
  }
}
