/**
 * Publisher confirms on one AMQP channel (RabbitMQ's "Publisher Confirms"):
 * after confirm.select the broker numbers the channel's publishes 1, 2, 3, ...
 * (delivery tags) and acks or nacks each, one at a time or several at once
 * ("multiple": every tag up to this one that is not yet settled). Pure: the
 * publisher feeds it the broker's acks and nacks.
 *
 * Written by hand with the publisher (decision 0015): a list indexed by tag
 * rather than a Map entry and a callback per message.
 */
import { CdcError } from '../core/errors.ts';

export class ConfirmTracker<Token extends object | number> {
  /** A message confirmed (acked): its token, in the order the broker settles them. */
  onAck: (token: Token) => void = () => undefined;

  // pending[i] is the message with tag firstTag + i, null once settled;
  // everything before `settledHead` is settled.
  private pending: (Token | null)[] = [];
  private firstTag = 1;
  private settledHead = 0;
  private nextTag = 1;
  private outstanding = 0;
  private nacked = 0;
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  /** One more message published: the next delivery tag. Called in the order the messages are sent. */
  track(token: Token): void {
    this.pending.push(token);
    this.nextTag++;
    this.outstanding++;
  }

  /** Messages published and not yet settled. */
  get unsettled(): number {
    return this.outstanding;
  }

  /** An ack or a nack for `tag`, or with `multiple` for every unsettled tag up to it. */
  settle(tag: number, multiple: boolean, ack: boolean): void {
    const last = tag - this.firstTag;
    if (last < 0 || last >= this.pending.length) throw new CdcError('PGCDC_PROTOCOL', `the broker confirmed delivery tag ${tag}, which was not published or was settled before`);
    for (let i = multiple ? this.settledHead : last; i <= last; i++) {
      const token = this.pending[i];
      if (token === null || token === undefined) continue;
      this.pending[i] = null;
      this.outstanding--;
      if (ack) this.onAck(token);
      else this.nacked++;
    }
    while (this.settledHead < this.pending.length && this.pending[this.settledHead] === null) this.settledHead++;
    if (this.outstanding === 0) {
      // Everything settled: the next tags start on an empty list.
      this.pending = [];
      this.firstTag = this.nextTag;
      this.settledHead = 0;
      for (const waiter of this.waiters.splice(0)) this.settledAll().then(waiter.resolve, waiter.reject);
    }
  }

  /** Resolves when every message tracked so far is settled; rejects if the broker nacked any of them since the last wait. */
  wait(): Promise<void> {
    if (this.outstanding === 0) return this.settledAll();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The connection ended: whatever waits fails. */
  failWaiting(error: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private settledAll(): Promise<void> {
    if (this.nacked === 0) return Promise.resolve();
    const nacked = this.nacked;
    this.nacked = 0;
    return Promise.reject(new CdcError('PGCDC_SINK', `the broker refused ${nacked} message${nacked === 1 ? '' : 's'} (basic.nack: a queue full with x-overflow reject-publish, or an internal error)`));
  }
}
