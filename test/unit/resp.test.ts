import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteWriter } from '../../src/core/byte-writer.ts';
import { RespError, RespReader, writeCommand, type RespReply } from '../../src/sink/resp.ts';

test('RESP commands: arrays of bulk strings with their length in bytes (UTF-8), whatever the text holds', () => {
  const out = new ByteWriter(16);
  writeCommand(out, ['XADD', 's', '1-0', 'value', 'é\r\n€', '']);
  assert.equal(out.finish().toString('utf8'), '*6\r\n$4\r\nXADD\r\n$1\r\ns\r\n$3\r\n1-0\r\n$5\r\nvalue\r\n$7\r\né\r\n€\r\n$0\r\n\r\n');
});

// What EXEC answers after a MULTI of three XADDs, one a duplicate, with the replies before it.
const replies: RespReply[] = ['OK', 'QUEUED', 'QUEUED', 'QUEUED', ['27404092-0', new RespError('ERR The ID specified in XADD is equal or smaller than the target stream top item'), '27404093-1']];
const wire = '+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$10\r\n27404092-0\r\n-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n$10\r\n27404093-1\r\n';

test('RESP replies: every reply type, read whole and cut at every byte (in two pieces and one byte at a time)', () => {
  assert.deepEqual(new RespReader().push(Buffer.from(wire)), replies);
  const bytes = Buffer.from(wire);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const reader = new RespReader();
    const got = [...reader.push(bytes.subarray(0, cut)), ...reader.push(bytes.subarray(cut))];
    assert.deepEqual(got, replies, `cut at ${cut}`);
  }
  const reader = new RespReader();
  const oneByOne: RespReply[] = [];
  for (const byte of bytes) oneByOne.push(...reader.push(Buffer.from([byte])));
  assert.deepEqual(oneByOne, replies);
  // Integers, nil bulk and nil array, an empty array, a bulk string holding CR LF and UTF-8, nested arrays.
  // Negative integers, and simple strings that only begin like the shared OK and QUEUED.
  const more = Buffer.from(':42\r\n$-1\r\n*-1\r\n*0\r\n$7\r\né\r\n€\r\n*2\r\n*1\r\n:1\r\n+x\r\n:-5\r\n+OKAY\r\n+QUEUE\r\n+QUEUEX\r\n+\r\n');
  const expected: RespReply[] = [42, null, null, [], 'é\r\n€', [[1], 'x'], -5, 'OKAY', 'QUEUE', 'QUEUEX', ''];
  assert.deepEqual(new RespReader().push(more), expected);
  for (let cut = 0; cut <= more.length; cut++) {
    const r = new RespReader();
    assert.deepEqual([...r.push(more.subarray(0, cut)), ...r.push(more.subarray(cut))], expected, `cut at ${cut}`);
  }
});

test('RESP replies: bytes that are not RESP are an error, not a wrong reply', () => {
  assert.throws(() => new RespReader().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), /not a Redis reply/);
  for (const bad of ['$abc\r\n', '$\r\n', '$1x\r\n', '*-\r\n', ':1.5\r\n', '$99999999999999999\r\n']) {
    assert.throws(() => new RespReader().push(Buffer.from(bad)), /not a Redis reply/, bad);
  }
});
