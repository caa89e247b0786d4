import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AckTracker } from '../../src/acknowledge/ack-tracker.ts';
import { lsn } from '../../src/core/lsn.ts';

describe('ack tracker', () => {
  test('starts at the slot position and advances only over a confirmed prefix', () => {
    const tracker = new AckTracker(lsn(100n));
    const a = tracker.register(lsn(200n));
    const b = tracker.register(lsn(300n));
    const c = tracker.register(lsn(400n));
    assert.equal(tracker.safeLsn, 100n);
    c.confirm();
    assert.equal(tracker.safeLsn, 100n, 'a later confirmation must not move past an unconfirmed earlier unit');
    b.confirm();
    assert.equal(tracker.safeLsn, 100n);
    a.confirm();
    assert.equal(tracker.safeLsn, 400n, 'once the gap closes, the whole prefix is safe');
    assert.equal(tracker.inFlight, 0);
  });
  test('intermediate batches of a transaction carry no LSN but still hold the transaction back', () => {
    const tracker = new AckTracker(lsn(0n));
    const part1 = tracker.register(undefined);
    const last = tracker.register(lsn(500n));
    last.confirm();
    assert.equal(tracker.safeLsn, 0n);
    part1.confirm();
    assert.equal(tracker.safeLsn, 500n);
  });
  test('idle (keepalive) positions queue behind data in flight and never overtake it', () => {
    const tracker = new AckTracker(lsn(10n));
    const data = tracker.register(lsn(50n));
    tracker.registerIdlePosition(lsn(900n));
    assert.equal(tracker.safeLsn, 10n, 'keepalive must wait for the data received before it');
    data.confirm();
    assert.equal(tracker.safeLsn, 900n);
    tracker.registerIdlePosition(lsn(1000n));
    assert.equal(tracker.safeLsn, 1000n, 'with nothing in flight a keepalive position is safe at once');
  });
  test('never moves backwards and confirmations are idempotent', () => {
    const tracker = new AckTracker(lsn(1000n));
    tracker.registerIdlePosition(lsn(500n));
    assert.equal(tracker.safeLsn, 1000n);
    const t = tracker.register(lsn(2000n));
    t.confirm();
    t.confirm();
    assert.equal(tracker.safeLsn, 2000n);
  });
  test('a unit without a position moves nothing by itself, and does not hold back the units after it once confirmed', () => {
    const tracker = new AckTracker(lsn(0n));
    const a = tracker.register(undefined);
    const b = tracker.register(lsn(7n));
    b.confirm();
    assert.equal(tracker.safeLsn, 0n, 'b waits for a');
    a.confirm();
    assert.equal(tracker.safeLsn, 7n);
  });
  test('random confirmation orders always end at the last LSN and never pass an unconfirmed unit', () => {
    let seed = 7;
    const random = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    for (let round = 0; round < 200; round++) {
      const tracker = new AckTracker(lsn(0n));
      const n = 1 + (random() % 50);
      const tickets = Array.from({ length: n }, (_, i) => {
        const at = random() % 3 === 0 ? undefined : lsn(BigInt((i + 1) * 10));
        return { ticket: tracker.register(at), lsn: at, position: BigInt((i + 1) * 10), done: false };
      });
      const order = tickets.map((_, i) => i).sort(() => (random() % 3) - 1);
      for (const i of order) {
        tickets[i]!.ticket.confirm();
        tickets[i]!.done = true;
        const firstOpen = tickets.findIndex((t) => !t.done);
        const bound = firstOpen === -1 ? BigInt(n * 10) : tickets[firstOpen]!.position - 10n;
        assert.ok(tracker.safeLsn <= bound, `safe ${tracker.safeLsn} passed unconfirmed unit (bound ${bound})`);
      }
      const lastLsn = [...tickets].reverse().find((t) => t.lsn !== undefined)?.lsn ?? 0n;
      assert.equal(tracker.safeLsn, lastLsn, 'all confirmed: safe is the last registered LSN');
      assert.equal(tracker.inFlight, 0);
    }
  });
  test('trims confirmed units so memory stays flat over a long run', () => {
    const tracker = new AckTracker(lsn(0n));
    for (let i = 1; i <= 100_000; i++) tracker.register(lsn(BigInt(i))).confirm();
    assert.equal(tracker.safeLsn, 100_000n);
    assert.equal(tracker.inFlight, 0);
    assert.ok((tracker as unknown as { units: unknown[] }).units.length < 2100);
  });
});
