import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteWriter } from '../../src/core/byte-writer.ts';
import { FdWriter } from '../../src/sink/stdout-writer.ts';

/**
 * Text at the edges of the ASCII copy path: Latin-1 characters (one UTF-16
 * unit, two UTF-8 bytes), a lone surrogate (written as U+FFFD), NUL and
 * control characters, DEL, and ASCII held in a two-byte string (cut from one
 * that was not ASCII).
 */
const UNUSUAL = ['\u00ff\u0080', 'a\ud800b', '\udc00', '\u0000\u0001\t\u007f', `${'é'.repeat(3)}ascii only`.slice(3), '\u00e9'];

test('strings of every width land as UTF-8 whatever room is left, growing the buffer when it is short', () => {
  // Short text is written straight into room for its worst case, long text (over 8,192 units) measured first: both here.
  const samples = ['plain', 'Zoë', '✓ 日本', '😀 pair', 'x'.repeat(300), `${'é'.repeat(100)}😀`, `${'✓'.repeat(4000)}${'a'.repeat(5000)}😀`, ...UNUSUAL];
  // Every starting capacity from tiny to ample, so each string meets a buffer edge at every offset.
  for (let capacity = 1; capacity < 700; capacity += 7) {
    const out = new ByteWriter(capacity);
    let expected = '';
    for (let round = 0; round < 3; round++) {
      for (const text of samples) {
        const written = out.utf8(text);
        assert.equal(written, Buffer.byteLength(text));
        out.ascii('|');
        expected += `${text}|`;
      }
    }
    assert.deepEqual(out.finish(), Buffer.from(expected, 'utf8'));
  }
});

test('a number reserved before the bytes it counts is filled in afterwards, right-aligned; truncate drops a frame', () => {
  const out = new ByteWriter(8);
  out.ascii('LEN ');
  const at = out.reserveNumber(8);
  out.ascii('\n');
  const start = out.length;
  const written = out.utf8('日本語');
  out.fillNumber(at, 8, written);
  assert.equal(out.finish().toString('utf8'), 'LEN        9\n日本語');

  const again = new ByteWriter(16);
  again.ascii('kept;');
  const frame = again.length;
  again.utf8('dropped');
  again.truncate(frame);
  again.bytes(Buffer.from([0x41, 0x42]));
  assert.equal(again.finish().toString(), 'kept;AB');
  assert.equal(start, 13);
});

test('finish copies out of a backing buffer much larger than what was written', () => {
  const out = new ByteWriter(1 << 20);
  out.ascii('small');
  const bytes = out.finish();
  assert.equal(bytes.toString(), 'small');
  assert.equal(bytes.buffer.byteLength < 1 << 20, true);
});

/** Writes through an FdWriter on a real file and returns what the file holds. */
function writtenThroughFd(write: (writer: FdWriter) => void): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-fdwriter-'));
  try {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    try {
      write(new FdWriter(fd));
    } finally {
      closeSync(fd);
    }
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('FdWriter writes every kind of text as its UTF-8 bytes, ASCII or not', () => {
  const texts = ['{"a":1}\n', ...UNUSUAL, 'x'.repeat(70_000), `${'✓'.repeat(30_000)}\n`, 'plain again'];
  const written = writtenThroughFd((writer) => {
    for (const text of texts) assert.equal(writer.write(text), true);
  });
  assert.deepEqual(written, Buffer.from(texts.join(''), 'utf8'));
});

test('FdWriter.writeLines writes each line and its newline as UTF-8, for batches of any count and size', () => {
  const batches: string[][] = [
    ['{"a":1}', ...UNUSUAL, ''],
    // Many lines, with multi-byte text that outgrows the estimate made from their lengths.
    Array.from({ length: 1_000 }, (_, i) => (i % 7 === 0 ? `✓ ${i} 😀` : `{"n":${i}}`)),
    // Megabytes in one batch, then a small one after it (pooled memory given back and lent again).
    ['x'.repeat(3_000_000), `${'é'.repeat(1_000_000)}`],
    ['after the large batch'],
  ];
  const written = writtenThroughFd((writer) => {
    for (const lines of batches) assert.equal(writer.writeLines(lines), true);
  });
  assert.deepEqual(written, Buffer.from(batches.map((lines) => lines.map((line) => `${line}\n`).join('')).join(''), 'utf8'));
});
