import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BackendFramer, parseErrorFields } from '../../src/decode/backend-framer.ts';
import { readPrimaryKeepalive, readXLogDataHeader } from '../../src/decode/copy-both.ts';
import { encodeStandbyStatus } from '../../src/source/feedback.ts';
import { ProtocolError } from '../../src/core/errors.ts';
import { copyDataKeepalive, copyDataXLog, pgoutput } from '../support/pgoutput-builder.ts';
import { lsn } from '../../src/core/lsn.ts';

interface Frame { code: string; body: string }

function collect(framer: BackendFramer, chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    framer.push(chunk, (code, buffer, start, end) => frames.push({ code: String.fromCharCode(code), body: buffer.subarray(start, end).toString('hex') }));
  }
  return frames;
}

const stream = Buffer.concat([
  copyDataXLog(100n, 200n, pgoutput.begin(300n, 1n, 7)),
  copyDataXLog(101n, 200n, pgoutput.insert(1, ['a'.repeat(300), null])),
  copyDataKeepalive(400n, true),
  copyDataXLog(102n, 200n, pgoutput.commit(300n, 350n, 1n)),
]);
const expected = collect(new BackendFramer(), [stream]);

describe('backend framer', () => {
  test('splits a whole stream into its four messages', () => {
    assert.equal(expected.length, 4);
    assert.deepEqual(expected.map((f) => f.code), ['d', 'd', 'd', 'd']);
  });
  test('gives the same frames for every single split point', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const frames = collect(new BackendFramer(), [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(frames, expected, `split at ${cut}`);
    }
  });
  test('gives the same frames when fed one byte at a time and in two splits (start, middle, end of messages)', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(collect(new BackendFramer(), bytes), expected);
    for (const [a, b] of [[1, 4], [5, 6], [30, stream.length - 1], [stream.length - 6, stream.length - 4]] as const) {
      assert.deepEqual(collect(new BackendFramer(), [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]), expected, `cuts ${a},${b}`);
    }
  });
  test('gives the same frames for every pair of split points (a message completed by a chunk that holds more, or that ends inside the next header)', () => {
    for (let a = 1; a < stream.length - 1; a++) {
      for (let b = a + 1; b < stream.length; b += 3) {
        const frames = collect(new BackendFramer(), [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        assert.deepEqual(frames, expected, `cuts ${a},${b}`);
      }
    }
  });
  test('frames stay valid for their callback even though the chunk is reused afterwards', () => {
    const framer = new BackendFramer();
    const copy = Buffer.from(stream);
    const seen: string[] = [];
    framer.push(copy.subarray(0, 40), (_c, b, s, e) => seen.push(b.subarray(s, e).toString('hex')));
    copy.fill(0, 0, 40); // the socket's buffer is recycled: the kept tail must be a copy
    framer.push(copy.subarray(40), (_c, b, s, e) => seen.push(b.subarray(s, e).toString('hex')));
    assert.deepEqual(seen, expected.map((f) => f.body));
  });
  test('a corrupt length is a ProtocolError, not a hang or a huge allocation', () => {
    const bad = Buffer.from([0x64, 0xff, 0xff, 0xff, 0xff, 0]);
    assert.throws(() => collect(new BackendFramer(), [bad]), ProtocolError);
    assert.throws(() => collect(new BackendFramer(), [Buffer.from([0x64, 0, 0, 0, 2])]), /invalid backend message length 2/);
  });
  test('parses ErrorResponse fields', () => {
    const body = Buffer.from('SERROR\0VERROR\0C42704\0Mreplication slot "x" does not exist\0\0');
    assert.deepEqual(parseErrorFields(body, 0, body.length), { severity: 'ERROR', code: '42704', message: 'replication slot "x" does not exist' });
  });
});

describe('replication sub-protocol', () => {
  test('reads XLogData headers and keepalives', () => {
    const frames: Array<[Buffer, number, number]> = [];
    new BackendFramer().push(Buffer.concat([copyDataXLog(0x16b3c8n, 0x16b400n, Buffer.from('B')), copyDataKeepalive(0x20000n, true)]), (_c, b, s, e) => frames.push([b, s, e]));
    const [xlog, keepalive] = frames;
    assert.deepEqual(readXLogDataHeader(...xlog!), { walStart: 0x16b3c8n, walEnd: 0x16b400n, sendTime: 0n });
    assert.deepEqual(readPrimaryKeepalive(...keepalive!), { walEnd: 0x20000n, sendTime: 0n, replyRequested: true });
    assert.throws(() => readPrimaryKeepalive(Buffer.from('k'), 0, 1), ProtocolError);
  });
  test('encodes a standby status update as a CopyData message', () => {
    const bytes = encodeStandbyStatus({ written: lsn(3n), flushed: lsn(2n), applied: lsn(1n), clock: 5n, replyRequested: false });
    assert.equal(bytes.length, 39);
    assert.equal(bytes.toString('latin1', 0, 1), 'd');
    assert.equal(bytes.readUInt32BE(1), 38);
    assert.equal(bytes.toString('latin1', 5, 6), 'r');
    assert.deepEqual([bytes.readBigUInt64BE(6), bytes.readBigUInt64BE(14), bytes.readBigUInt64BE(22), bytes.readBigInt64BE(30), bytes[38]], [3n, 2n, 1n, 5n, 0]);
  });
});
