/**
 * Decides which WAL position may be acknowledged to Postgres (flushed, i.e.
 * `confirmed_flush_lsn`). The rules are in docs/lsn-and-acks.md; in short:
 *
 * 1. Every unit handed downstream (a batch of events) is registered here, in
 *    stream order, before it is handed on. A unit that completes a transaction
 *    carries the transaction's end LSN.
 * 2. A unit is confirmed when its consumer says so (written to stdout, broker
 *    acknowledged, ...). Confirmations may come in any order.
 * 3. The safe position is the largest LSN of the longest confirmed prefix: one
 *    unconfirmed unit holds back everything after it, however much of it is
 *    confirmed. Nothing past the safe position is ever acknowledged.
 * 4. A keepalive's position may be acknowledged only through the same queue
 *    (it is registered as an already confirmed unit), so it can never overtake
 *    data that was received before it and is still in flight.
 *
 * Hand-written (no library) because it is the correctness core of delivery and
 * runs once per batch on the hot path.
 */
import type { Lsn } from '../core/lsn.ts';

export interface AckTicket {
  /** Marks the unit handled. Idempotent. */
  confirm(): void;
}

interface Unit {
  lsn: Lsn | undefined;
  confirmed: boolean;
}

export class AckTracker {
  private readonly units: Unit[] = [];
  /** Index of the first unit still in `units` (units before it were trimmed). */
  private head = 0;
  private safe: Lsn;

  /** @param start the slot's confirmed position when streaming began */
  constructor(start: Lsn) {
    this.safe = start;
  }

  /** Highest position whose every preceding unit is confirmed. */
  get safeLsn(): Lsn {
    return this.safe;
  }

  /** Units registered and not yet trimmed by confirmation of a whole prefix. */
  get inFlight(): number {
    return this.units.length - this.head;
  }

  /**
   * Registers the next unit in stream order.
   * @param lsn the position that becomes safe once this unit and all before it are confirmed
   */
  register(lsn?: Lsn): AckTicket {
    const unit: Unit = { lsn, confirmed: false };
    this.units.push(unit);
    return {
      confirm: () => {
        if (unit.confirmed) return;
        unit.confirmed = true;
        this.advance();
      },
    };
  }

  /**
   * A position known to hold no undelivered data of ours (a keepalive's walEnd
   * while no transaction is half received). Queued behind everything in flight.
   */
  registerIdlePosition(lsn: Lsn): void {
    if (lsn <= this.safe && this.inFlight === 0) return;
    this.register(lsn).confirm();
  }

  private advance(): void {
    let index = this.head;
    while (index < this.units.length && this.units[index]!.confirmed) {
      const lsn = this.units[index]!.lsn;
      // Positions only move forward, even if a keepalive reported an older walEnd.
      if (lsn !== undefined && lsn > this.safe) this.safe = lsn;
      index++;
    }
    this.head = index;
    if (this.head > 1024 && this.head * 2 > this.units.length) {
      this.units.splice(0, this.head);
      this.head = 0;
    }
  }
}
