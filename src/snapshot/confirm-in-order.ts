/**
 * Confirms that may come out of order, turned into callbacks that run in order.
 * The ack tracker orders the slot's position; this orders the snapshot's saved
 * progress, which must never pass a chunk whose rows are still in flight. (A
 * batch the transforms emptied is confirmed at once, before earlier batches the
 * sink still holds.)
 */
export class ConfirmInOrder {
  /** Hand-written: a queue of the few batches in flight. */
  private readonly waiting: Array<{ run: (() => void) | undefined; confirmed: boolean }> = [];

  /** A confirm for the next batch: `run` runs once it and every confirm handed out before it were called. */
  add(run: (() => void) | undefined): () => void {
    const entry = { run, confirmed: false };
    this.waiting.push(entry);
    return () => {
      entry.confirmed = true;
      while (this.waiting[0]?.confirmed) this.waiting.shift()!.run?.();
    };
  }
}
