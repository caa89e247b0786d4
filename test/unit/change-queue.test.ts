/** The change queue (engine/change-queue.ts) without a network: a scripted decoder and a flow-control stand-in for the socket. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lsn, type Lsn } from '../../src/core/lsn.ts';
import type { AssemblerOutput } from '../../src/assemble/transaction-assembler.ts';
import type { StreamDecoder } from '../../src/engine/stream-decoders.ts';
import { ChangeQueue, type QueueEntry } from '../../src/engine/change-queue.ts';

/** A decoder whose output per payload is scripted: the payload's first byte names the output. */
function scriptedDecoder(outputs: Map<number, AssemblerOutput>) {
  const state = { inTransaction: false };
  const decoder: StreamDecoder = {
    push: (buffer, start) => outputs.get(buffer[start]!),
    get inTransaction() { return state.inTransaction; },
    memoryUsed: 0,
    memoryPeak: 0,
    reset: () => undefined,
  };
  return { decoder, state };
}

const message = (position: bigint): AssemblerOutput => ({ kind: 'message', item: { op: 'm', schema: '', table: '', before: null, after: null, key: null, lsn: lsn(position), xid: 0 } as never, lsn: lsn(position) });

function transaction(commit: bigint, count: number, disposed: string[]): AssemblerOutput {
  return {
    kind: 'transaction',
    transaction: { xid: Number(commit), commitLsn: lsn(commit), endLsn: lsn(commit + 8n), commitMs: 0, idBase: '', origin: undefined, buffer: { count, dispose: () => disposed.push(`tx ${commit}`) } } as never,
  };
}

function setUp(options: { maxQueued?: number; untilLsn?: Lsn; acknowledgeKeepalives?: boolean } = {}) {
  const outputs = new Map<number, AssemblerOutput>();
  const { decoder, state } = scriptedDecoder(outputs);
  const flow = { paused: false, pauses: 0, resumes: 0, pause() { this.paused = true; this.pauses++; }, resume() { this.paused = false; this.resumes++; } };
  let replies = 0;
  const queue = new ChangeQueue({ decoder, maxQueued: options.maxQueued ?? 10, acknowledgeKeepalives: options.acknowledgeKeepalives ?? true, untilLsn: options.untilLsn, onReplyRequested: () => { replies++; } });
  queue.flow = flow;
  const frame = (id: number, output: AssemblerOutput | undefined, walStart = 0n) => {
    if (output !== undefined) outputs.set(id, output);
    queue.onXLogData({ walStart: lsn(walStart), walEnd: lsn(walStart), sendTime: 0n }, Buffer.from([id]), 0, 1);
  };
  const keepalive = (walEnd: bigint, replyRequested = false) => queue.onKeepalive({ walEnd: lsn(walEnd), sendTime: 0n, replyRequested });
  const drain = () => { const out: QueueEntry[] = []; for (let e = queue.take(); e !== undefined; e = queue.take()) out.push(e); return out; };
  return { queue, flow, state, frame, keepalive, drain, replies: () => replies };
}

const kinds = (entries: QueueEntry[]) => entries.map((e) => (e.kind === 'position' ? `position ${e.lsn}` : e.kind === 'message' ? `message ${e.lsn}` : e.kind === 'transaction' ? `transaction ${e.transaction.commitLsn}` : `end${e.error ? ` ${e.error.code}` : ''}`));

describe('change queue', () => {
  test('entries leave in the order the socket delivered them; items are counted until released', () => {
    const { queue, frame, keepalive, drain } = setUp();
    frame(1, transaction(100n, 3, []));
    frame(2, message(120n));
    keepalive(200n);
    assert.equal(queue.queuedItems, 4);
    assert.deepEqual(kinds(drain()), ['transaction 100', 'message 120', 'position 200']);
    queue.release(4);
    assert.equal(queue.queuedItems, 0);
  });

  test('backpressure: reading pauses after a read that leaves maxQueued items waiting, and resumes when the consumer waits on an empty queue', async () => {
    const { queue, flow, frame, drain } = setUp({ maxQueued: 3 });
    frame(1, message(1n));
    frame(2, message(2n));
    queue.onChunkEnd();
    assert.equal(flow.paused, false, 'two waiting: go on reading');
    frame(3, message(3n));
    queue.onChunkEnd();
    assert.equal(flow.paused, true, 'three waiting: the socket is paused, the server holds the rest');
    assert.equal(drain().length, 3);
    queue.release(3);
    const waiting = queue.waitForMore();
    assert.equal(flow.paused, false, 'an empty queue resumes reading');
    frame(4, message(4n));
    await waiting;
  });

  test('a keepalive position is queued only when no transaction is half received, and only if keepalives are acknowledged', () => {
    const a = setUp();
    a.state.inTransaction = true;
    a.keepalive(50n);
    a.state.inTransaction = false;
    a.keepalive(60n, true);
    assert.deepEqual(kinds(a.drain()), ['position 60']);
    assert.equal(a.replies(), 1, 'replyRequested asks for a status update now');
    const b = setUp({ acknowledgeKeepalives: false });
    b.keepalive(70n);
    assert.deepEqual(kinds(b.drain()), []);
  });

  test('untilLsn: a transaction committing after it ends the queue, is not delivered, and its buffer is disposed', () => {
    const disposed: string[] = [];
    const { queue, flow, frame, drain } = setUp({ untilLsn: lsn(150n) });
    frame(1, transaction(100n, 1, disposed));
    frame(2, transaction(200n, 1, disposed));
    frame(3, message(300n));
    assert.deepEqual(kinds(drain()), ['transaction 100', 'end']);
    assert.deepEqual(disposed, ['tx 200']);
    assert.equal(flow.paused, true);
    assert.equal(queue.isEnded, true);
  });

  test('frames that arrive while the catalog is read wait, in order, and are replayed after it', async () => {
    const { queue, flow, frame, keepalive, drain } = setUp();
    let finish!: () => void;
    frame(1, message(10n));
    queue.holdWhile(() => new Promise<void>((resolve) => { finish = resolve; }), () => undefined);
    assert.equal(flow.paused, true);
    frame(2, message(20n));
    keepalive(25n);
    frame(3, message(30n));
    assert.deepEqual(kinds(drain()), ['message 10'], 'held frames are not decoded yet');
    finish();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(kinds(drain()), ['message 20', 'position 25', 'message 30']);
    assert.equal(flow.paused, false);
  });

  test('a failed catalog read is reported and the held frames still go on', async () => {
    const { queue, frame, drain } = setUp();
    const failures: string[] = [];
    queue.holdWhile(() => Promise.reject(new Error('connection lost')), (error) => failures.push(error.message));
    frame(1, message(10n));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(failures, ['connection lost']);
    assert.deepEqual(kinds(drain()), ['message 10']);
  });

  test('after the end nothing more is queued (spill files of late transactions are removed); close disposes what waits', () => {
    const disposed: string[] = [];
    const { queue, frame, drain } = setUp();
    frame(1, transaction(100n, 2, disposed));
    queue.close();
    assert.deepEqual(disposed, ['tx 100'], 'close disposes waiting transactions');
    frame(2, transaction(200n, 2, disposed));
    assert.deepEqual(disposed, ['tx 100', 'tx 200'], 'a transaction after the end is disposed at once');
    assert.deepEqual(kinds(drain()), ['end']);
  });

  test('wakeConsumer ends a wait with nothing queued (a stop request)', async () => {
    const { queue } = setUp();
    const waiting = queue.waitForMore();
    queue.wakeConsumer();
    await waiting;
    assert.equal(queue.take(), undefined);
  });
});
