/**
 * The NATS sink against a real nats-server with JetStream:
 * what a JetStream consumer reads back is exactly what was written (subjects,
 * headers, bytes, order), redelivery is deduplicated, and records NATS cannot
 * carry are refused one by one instead of failing the batch forever.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NatsSink } from '../../src/sink/nats-sink.ts';
import type { InboundMessage } from '../../src/sink/nats-publisher.ts';
import type { OutboundRecord } from '../../src/sink/outbound-record.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { startNats, type TestNats } from '../support/nats.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

let nats: TestNats;

before(async () => {
  nats = await startNats();
});

after(async () => {
  await nats?.dispose();
});

function record(id: string, topic: string, value: string, key: string | null, headers: Record<string, string> = {}): OutboundRecord {
  // The sink reads only the record's own fields; the event rides along for dead letters.
  return { id, topic, key, headers, value, event: { id } as unknown as ChangeEvent };
}

async function eventually(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records n = from .. to-1 as `{"n":n}` on `topic`, with ids `<lsn>:<n>`. */
function numbered(lsn: string, topic: string, from: number, to: number): OutboundRecord[] {
  return Array.from({ length: to - from }, (_, i) => record(`${lsn}:${from + i}`, topic, JSON.stringify({ n: from + i }), null));
}

/** An open sink for `stream` (capturing `<stream in lower case>.>`), closed after `body`. */
async function withSink(stream: string, body: (sink: NatsSink) => Promise<void>, servers = [nats.url]): Promise<void> {
  const sink = new NatsSink({ servers, stream, streamSubjects: [`${stream.toLowerCase()}.>`], timeoutMs: 5000 });
  await sink.open();
  try {
    await body(sink);
  } finally {
    await sink.close();
  }
}

/** A rejection that the pipeline would retry, with a message matching `message`. */
async function rejectsRetriably(write: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(write, (error: Error & { retriable?: boolean }) => {
    assert.match(error.message, message);
    assert.equal(error.retriable, true);
    return true;
  });
}

describe('NATS sink', () => {
  test('batches go out as HPUB frames: subjects, headers, UTF-8 payloads and order arrive intact; a redelivered batch adds nothing', async () => {
    await withSink('RAW', async (sink) => {
      const records = [
        record('0/10:1', 'raw.public.t', '{"after":{"name":"Zoë ✓ 日本"}}', '{"id":1}'),
        record('0/10:2', 'raw.shipment', '{"order":42}', '42', { message_id: '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6', 'ce_type': 'Shipment' }),
        record('0/10:3', 'raw.public.t', '', '{"id":"clé"}'),
        ...Array.from({ length: 500 }, (_, i) => record(`0/20:${i}`, 'raw.public.t', JSON.stringify({ i, pad: 'x'.repeat(i) }), JSON.stringify({ id: i }))),
      ];
      const result = await sink.write(records);
      assert.deepEqual(result, { rejected: [] });
      const read = await nats.readStream('RAW', records.length);
      assert.equal(read.length, records.length);
      assert.deepEqual(read.slice(0, 3), [
        { subject: 'raw.public.t', headers: { 'Nats-Msg-Id': '0/10:1', 'Pgcdc-Key': '{"id":1}' }, data: '{"after":{"name":"Zoë ✓ 日本"}}' },
        { subject: 'raw.shipment', headers: { 'Nats-Msg-Id': '0/10:2', message_id: '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6', ce_type: 'Shipment', 'Pgcdc-Key': '42' }, data: '{"order":42}' },
        { subject: 'raw.public.t', headers: { 'Nats-Msg-Id': '0/10:3', 'Pgcdc-Key': '{"id":"clé"}' }, data: '' },
      ]);
      assert.deepEqual(read.slice(3).map((m) => JSON.parse(m.data).i), Array.from({ length: 500 }, (_, i) => i));

      // A retry of the same batch (same event ids) is dropped by JetStream's duplicate window.
      await sink.write(records);
      assert.equal(await nats.messageCount('RAW'), records.length);
    });
  });

  test('batches encoded ahead and written as a group; a retry after a timeout ignores the late PubAcks of the first attempt', async () => {
    await withSink('AHEAD', async (sink) => {
      const first = Array.from({ length: 300 }, (_, i) => record(`0/40:${i}`, 'ahead.t', JSON.stringify({ i }), null));
      const second = Array.from({ length: 300 }, (_, i) => record(`0/41:${i}`, 'ahead.t', JSON.stringify({ i: 300 + i }), null));
      const batches = [sink.encode(first), sink.encode(second)];
      assert.deepEqual(batches.map((b) => [b.count, b.rejected.length]), [[300, 0], [300, 0]]);
      // First attempt: its PubAcks are held back (as by a slow network) until it
      // has timed out, and handed in late, while the retry waits for its own.
      const publisher = (sink as unknown as { publisher: { onMessage: (m: InboundMessage) => void } }).publisher;
      const deliver = publisher.onMessage;
      const held: InboundMessage[] = [];
      publisher.onMessage = (m) => held.push({ subject: Buffer.from(m.subject), status: m.status, payload: Buffer.from(m.payload) });
      (sink as unknown as { options: { timeoutMs: number } }).options.timeoutMs = 300;
      await assert.rejects(sink.writeEncoded(batches), /no PubAck for 600 of 600 records/);
      await eventually(() => held.length === 600);
      publisher.onMessage = deliver;
      (sink as unknown as { options: { timeoutMs: number } }).options.timeoutMs = 5000;
      let retryDone = false;
      const retry = sink.writeEncoded(batches).then(() => { retryDone = true; });
      // The 600 late PubAcks, all in this same turn: the retry's own cannot have arrived yet.
      for (const m of held) deliver(m);
      for (let i = 0; i < 20; i++) await Promise.resolve(); // microtasks only: no I/O in between
      assert.equal(retryDone, false, 'the retry was settled by the first attempt\'s late PubAcks');
      await retry;
      // Resolved means every record is stored: the stream holds all 600 now, not later.
      assert.equal(await nats.messageCount('AHEAD'), 600);
      const read = await nats.readStream('AHEAD', 600);
      assert.deepEqual(read.map((m) => JSON.parse(m.data).i), Array.from({ length: 600 }, (_, i) => i));
      // Written again (a retry with nothing late in flight): every record is acknowledged as a duplicate, nothing added.
      await sink.writeEncoded(batches);
      assert.equal(await nats.messageCount('AHEAD'), 600);
    });
  });

  test('a record over max_payload or with a header NATS cannot carry is refused with the reason; the rest of the batch is delivered', async () => {
    await withSink('REFUSE', async (sink) => {
      const big = record('0/30:2', 'refuse.t', JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }), null);
      const badHeader = record('0/30:3', 'refuse.t', '{}', null, { note: 'two\r\nlines' });
      const badSubject = record('0/30:4', 'refuse.has space', '{}', null);
      const result = await sink.write([record('0/30:1', 'refuse.t', '{"n":1}', null), big, badHeader, badSubject, record('0/30:5', 'refuse.t', '{"n":5}', null)]);
      assert.ok(result);
      assert.deepEqual(result.rejected.map((r) => r.record.id), ['0/30:2', '0/30:3', '0/30:4']);
      assert.match(result.rejected[0]!.reason, /exceeds the NATS server's max_payload \(1048576 bytes\)/);
      assert.match(result.rejected[1]!.reason, /header note contains a line break/);
      assert.match(result.rejected[2]!.reason, /not a valid NATS subject/);
      const read = await nats.readStream('REFUSE', 2);
      assert.deepEqual(read.map((m) => m.data), ['{"n":1}', '{"n":5}']);
    });
  });

  test('nats-server stops mid-stream: the write fails at once, retriably; once it is back, the same batch is delivered once', async () => {
    await withSink('BOUNCE', async (sink) => {
      await sink.write([record('0/60:1', 'bounce.t', '{"n":1}', null)]);
      const batch = sink.encode(Array.from({ length: 200 }, (_, i) => record(`0/61:${i}`, 'bounce.t', JSON.stringify({ n: 2 + i }), null)));
      await nats.stop();
      const started = Date.now();
      await rejectsRetriably(sink.writeEncoded([batch]), /connection to NATS was lost|cannot reach NATS/);
      // Failed because the connection went, not because the 5 s PubAck timeout ran out.
      assert.ok(Date.now() - started < 4000, `failed after ${Date.now() - started} ms`);
      await nats.start();
      await sink.writeEncoded([batch]);
      assert.equal(await nats.messageCount('BOUNCE'), 201);
      assert.deepEqual((await nats.readStream('BOUNCE', 201)).map((m) => JSON.parse(m.data).n), Array.from({ length: 201 }, (_, i) => 1 + i));
    });
  });

  test('two writes in flight: both are stored in call order; a write that follows a failed one is not sent, so the retry of the first is stored before it', async () => {
    await withSink('PIPE', async (sink) => {
      const batchOf = (from: number, to: number, topic = 'pipe.t') => sink.encode(numbered('0/90', topic, from, to));
      const stored = async (count: number) => (await nats.readStream('PIPE', count)).map((m) => JSON.parse(m.data).n as number);
      assert.equal(sink.maxWritesInFlight, 2);
      // In flight together: stored in call order.
      await Promise.all([sink.writeEncoded([batchOf(0, 300)]), sink.writeEncoded([batchOf(300, 600)], { follows: true })]);
      assert.deepEqual(await stored(600), Array.from({ length: 600 }, (_, i) => i));

      // The first write fails (no stream captures its subject); one that follows it is refused, unsent.
      const failing = sink.writeEncoded([batchOf(600, 601, 'nostream.t')]);
      const follower = batchOf(601, 700);
      await assert.rejects(failing, /no JetStream stream captures this subject/);
      await rejectsRetriably(sink.writeEncoded([follower], { follows: true }), /not attempted: the write before it failed/);
      assert.equal(await nats.messageCount('PIPE'), 600);
      // A fresh write (nothing in flight: the pipeline's retry) goes out.
      await sink.writeEncoded([follower]);
      assert.deepEqual(await stored(699), [...Array.from({ length: 600 }, (_, i) => i), ...Array.from({ length: 99 }, (_, i) => 601 + i)]);
    });
  });

  test('a write that follows one still connecting is not sent ahead of it: after a lost connection, it waits for the first write to reconnect and deliver', async () => {
    const proxy = await startTcpProxy(nats.port);
    try {
      await withSink('RECONNECT', async (sink) => {
        const batchOf = (from: number, to: number) => sink.encode(numbered('0/a0', 'reconnect.t', from, to));
        await sink.writeEncoded([batchOf(0, 10)]);
        proxy.partition();
        await eventually(() => !(sink as unknown as { publisher: { connected: boolean } }).publisher.connected);
        proxy.heal();
        const first = sink.writeEncoded([batchOf(10, 20)]); // connects first
        await Promise.all([first, sink.writeEncoded([batchOf(20, 30)], { follows: true })]);
        assert.deepEqual((await nats.readStream('RECONNECT', 30)).map((m) => JSON.parse(m.data).n), Array.from({ length: 30 }, (_, i) => i));
        assert.equal(await nats.messageCount('RECONNECT'), 30);
      }, [`127.0.0.1:${proxy.port}`]);
    } finally {
      await proxy.close();
    }
  });

  test('the configured stream disappears: the write fails retriably, and the retry creates it again and delivers', async () => {
    await withSink('GONE', async (sink) => {
      await sink.write([record('0/80:1', 'gone.t', '{"n":1}', null)]);
      await nats.deleteStream('GONE');
      const batch = sink.encode([record('0/80:2', 'gone.t', '{"n":2}', null)]);
      await rejectsRetriably(sink.writeEncoded([batch]), /no JetStream stream captures this subject/);
      await sink.writeEncoded([batch]);
      assert.deepEqual((await nats.readStream('GONE', 1)).map((m) => m.data), ['{"n":2}']);
    });
  });

  test('no stream for the subject: the write fails with a readable, non-retriable error', async () => {
    const sink = new NatsSink({ servers: [nats.url], stream: undefined, streamSubjects: [], timeoutMs: 5000 });
    await sink.open();
    try {
      await assert.rejects(sink.write([record('0/40:1', 'nowhere.t', '{}', null)]), (error: Error & { retriable?: boolean }) => {
        assert.match(error.message, /no JetStream stream captures this subject; create a JetStream stream for these subjects, or set sink\.stream/);
        assert.equal(error.retriable, false);
        return true;
      });
    } finally {
      await sink.close();
    }
  });

  test('a stream whose max_msg_size is below a record: one non-retriable line that says what to raise, instead of retrying forever; the records before it are stored', async () => {
    const client = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(client)).streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 300 });
      const sink = new NatsSink({ servers: [nats.url], stream: undefined, streamSubjects: [], timeoutMs: 5000 });
      await sink.open();
      try {
        const records = [record('0/b0:1', 'small.t', '{"n":1}', '{"id":1}'), record('0/b0:2', 'small.t', JSON.stringify({ pad: 'x'.repeat(500) }), '{"id":2}')];
        await assert.rejects(sink.write(records), (error: Error & { retriable?: boolean }) => {
          assert.match(error.message, /^NATS refuses a record: .*maximum.*; raise the stream's max_msg_size .*nothing was dead-lettered$/);
          assert.equal(error.retriable, false);
          return true;
        });
        assert.equal(await nats.messageCount('SMALL'), 1);
      } finally {
        await sink.close();
      }
    } finally {
      await client.close();
    }
  });

  test('a server that wants a login: the right user and password deliver; a wrong one fails open with one readable line', async () => {
    const secured = await startNats({ user: 'pgcdc', password: 's3cret' });
    try {
      const wrong = new NatsSink({ servers: [secured.url], stream: 'AUTH', streamSubjects: ['auth.>'], timeoutMs: 5000, user: 'pgcdc', password: 'nope' });
      await assert.rejects(wrong.open(), (error: Error) => {
        assert.match(error.message, /^cannot reach NATS at 127\.0\.0\.1:\d+: .*Authorization Violation.*; check sink\.servers, the credentials/);
        assert.doesNotMatch(error.message, /nope/);
        assert.equal(error.message.includes('\n'), false);
        return true;
      });
      await wrong.close();
      const sink = new NatsSink({ servers: [secured.url], stream: 'AUTH', streamSubjects: ['auth.>'], timeoutMs: 5000, user: 'pgcdc', password: 's3cret' });
      await sink.open();
      try {
        await sink.write([record('0/70:1', 'auth.t', '{"ok":true}', '{"id":1}')]);
        assert.deepEqual(await secured.readStream('AUTH', 1), [{ subject: 'auth.t', headers: { 'Nats-Msg-Id': '0/70:1', 'Pgcdc-Key': '{"id":1}' }, data: '{"ok":true}' }]);
      } finally {
        await sink.close();
      }
    } finally {
      await secured.dispose();
    }
  });
});
