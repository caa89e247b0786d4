import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesAt, humanBytes } from '../../src/core/bytes.ts';

test('bytesAt: the expected bytes at an offset, never past the end of the buffer', () => {
  const data = Buffer.from('+QUEUED\r\n{"stream":"S"}');
  assert.equal(bytesAt(data, 1, Buffer.from('QUEUED')), true);
  assert.equal(bytesAt(data, 9, Buffer.from('{"stream"')), true);
  assert.equal(bytesAt(data, 0, Buffer.from('QUEUED')), false, 'at the wrong offset');
  assert.equal(bytesAt(data, 1, Buffer.from('QUEUEX')), false, 'last byte differs');
  assert.equal(bytesAt(data, data.length - 2, Buffer.from('"}x')), false, 'runs past the end');
  assert.equal(bytesAt(Buffer.alloc(0), 0, Buffer.from('{')), false);
  assert.equal(bytesAt(data, 4, Buffer.alloc(0)), true, 'nothing expected is always there');
});

test('humanBytes prints sizes as pg_size_pretty does', () => {
  assert.equal(humanBytes(1536), '1536 bytes');
  assert.equal(humanBytes(10 * 1024), '10 kB');
  assert.equal(humanBytes(2_500_000), '2441 kB');
  assert.equal(humanBytes(20 * 1024 * 1024), '20 MB');
});
