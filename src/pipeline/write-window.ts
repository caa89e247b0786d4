/**
 * The sink writes a pipeline has started and not yet confirmed, and the rule by
 * which they are confirmed (docs/decisions/0007-pipelined-sink-writes.md):
 *
 * - Writes start in stream order; a sink that keeps writes in call order may
 *   have up to `depth` in flight (NATS: 2), the others one.
 * - Groups are confirmed strictly in order, each only once its own write and
 *   every earlier one succeeded: the ack tracker's contiguous-prefix rule then
 *   never sees a gap (docs/lsn-and-acks.md, rule 2).
 * - After a failed write no new one starts. The writes after it are let settle;
 *   then the failed one is delivered again (with backoff, by `deliver`), then
 *   each later one that failed too, one at a time, in order, so a retry never
 *   races a later write. A later write that succeeded is durable and is
 *   confirmed as it is.
 *
 * Hand-written, not a library's queue: this is the acknowledgement path, and
 * its order rules are the correctness of `pgcdc run`.
 */
export type Outcome<Refused> = { refused: Refused } | { error: unknown };

export interface WriteWindowHooks<Group, Refused> {
  /** One write attempt; rejects when it failed. `follows`: an earlier write is still in flight. */
  write(group: Group, follows: boolean): Promise<Refused>;
  /** Writes the group until the sink confirms it (retrying with backoff); `failure` is the attempt already made. */
  deliver(group: Group, failure?: unknown): Promise<Refused>;
  /** The group is confirmed, with what the sink refused for good. Called in stream order. */
  confirm(group: Group, refused: Refused): void;
}

interface WriteInFlight<Group, Refused> {
  group: Group;
  /** Set as soon as the write fails: no new write starts after a failed one. */
  failed: boolean;
  /** Never rejects. */
  outcome: Promise<Outcome<Refused>>;
}

export class WriteWindow<Group, Refused> {
  private readonly depth: number;
  private readonly hooks: WriteWindowHooks<Group, Refused>;
  /** Oldest first. */
  private readonly inFlight: Array<WriteInFlight<Group, Refused>> = [];

  constructor(depth: number, hooks: WriteWindowHooks<Group, Refused>) {
    this.depth = depth;
    this.hooks = hooks;
  }

  get size(): number {
    return this.inFlight.length;
  }

  /** Whether another write may start now: room in the window, and no write in it failed. */
  get canStart(): boolean {
    return this.inFlight.length < this.depth && !this.inFlight.some((w) => w.failed);
  }

  /** Starts writing the next group (after every group started before it). */
  start(group: Group): void {
    const write: WriteInFlight<Group, Refused> = { group, failed: false, outcome: undefined! };
    write.outcome = this.hooks.write(group, this.inFlight.length > 0).then(
      (refused) => ({ refused }),
      (error: unknown) => { write.failed = true; return { error }; },
    );
    this.inFlight.push(write);
  }

  /** Settles when the oldest write has an outcome (to race against reading the next group). */
  oldestSettled(): Promise<void> {
    return this.inFlight[0]!.outcome.then(() => undefined);
  }

  /** Waits for the oldest write and confirms its group; after a failure, redelivers as the header says. */
  async settleOldest(): Promise<void> {
    const oldest = this.inFlight.shift()!;
    const outcome = await oldest.outcome;
    if (!('error' in outcome)) {
      this.hooks.confirm(oldest.group, outcome.refused);
      return;
    }
    const later = this.inFlight.splice(0);
    const laterOutcomes = await Promise.all(later.map((w) => w.outcome));
    this.hooks.confirm(oldest.group, await this.hooks.deliver(oldest.group, outcome.error));
    for (const [i, write] of later.entries()) {
      const result = laterOutcomes[i]!;
      this.hooks.confirm(write.group, 'error' in result ? await this.hooks.deliver(write.group) : result.refused);
    }
  }

  /** Lets every write in flight finish, unconfirmed (the stream failed: their groups are read again). */
  async abandon(): Promise<void> {
    await Promise.all(this.inFlight.splice(0).map((w) => w.outcome));
  }
}
