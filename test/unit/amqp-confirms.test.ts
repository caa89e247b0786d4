import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfirmTracker } from '../../src/sink/amqp-confirms.ts';

interface Message { n: number }
const messages = (count: number, from = 1): Message[] => Array.from({ length: count }, (_, i) => ({ n: from + i }));

test('publisher confirms: single and multiple acks, in and out of order, each message acked once, the wait resolves when the last is settled', async () => {
  const tracker = new ConfirmTracker<Message>();
  const acked: number[] = [];
  tracker.onAck = (m) => acked.push(m.n);
  for (const m of messages(6)) tracker.track(m);
  let done = false;
  const waited = tracker.wait().then(() => { done = true; });
  tracker.settle(3, false, true); // out of order: 3 alone
  tracker.settle(2, true, true); // 1 and 2 (3 is settled already)
  tracker.settle(5, false, true);
  await Promise.resolve();
  assert.equal(done, false);
  assert.equal(tracker.unsettled, 2);
  tracker.settle(6, true, true); // 4 and 6
  await waited;
  assert.deepEqual(acked, [3, 1, 2, 5, 4, 6]);
  // The next messages continue the tags (7, 8, ...), on an emptied list.
  for (const m of messages(2, 7)) tracker.track(m);
  tracker.settle(8, true, true);
  await tracker.wait();
  assert.deepEqual(acked.slice(6), [7, 8]);
});

test('publisher confirms: a nack anywhere among the waited-for messages rejects the wait once all are settled; the acked ones are still reported; the next wait starts clean', async () => {
  const tracker = new ConfirmTracker<Message>();
  const acked: number[] = [];
  tracker.onAck = (m) => acked.push(m.n);
  for (const m of messages(4)) tracker.track(m);
  const waited = tracker.wait();
  tracker.settle(1, false, true);
  tracker.settle(3, true, false); // 2 and 3 nacked
  tracker.settle(4, false, true);
  await assert.rejects(waited, /the broker refused 2 messages \(basic\.nack/);
  assert.deepEqual(acked, [1, 4]);
  tracker.track({ n: 5 });
  tracker.settle(5, false, true);
  await tracker.wait();
  assert.deepEqual(acked, [1, 4, 5]);
});

test('publisher confirms: a tag never published or settled twice is a protocol error; failWaiting rejects the waits', async () => {
  const tracker = new ConfirmTracker<Message>();
  for (const m of messages(2)) tracker.track(m);
  assert.throws(() => tracker.settle(3, false, true), /delivery tag 3, which was not published/);
  tracker.settle(2, true, true);
  assert.throws(() => tracker.settle(2, false, true), /delivery tag 2/);
  tracker.track({ n: 3 });
  const waited = tracker.wait();
  tracker.failWaiting(new Error('the connection closed'));
  await assert.rejects(waited, /the connection closed/);
});
