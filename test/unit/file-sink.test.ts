/** The file sink after a crash: a torn last line (never confirmed) is cut off before appending. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { afterWritten, FileSink, repairTornTail } from '../../src/sink/file-sink.ts';
import type { OutboundRecord } from '../../src/sink/outbound-record.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgcdc-file-sink-'));
const record = (value: string): OutboundRecord => ({ id: value, topic: 't', key: null, headers: {}, value, event: {} as ChangeEvent });

describe('file sink', () => {
  test('a torn last line is cut off at open; complete lines are kept; new records follow on their own lines', async () => {
    const path = join(dir, 'torn.jsonl');
    writeFileSync(path, '{"n":1}\n{"n":2}\n{"n":3,"pad":"xxxx');
    const sink = new FileSink({ path, rotateBytes: 0, fsync: true });
    await sink.open();
    await sink.write([record('{"n":3}'), record('{"n":4}')]);
    await sink.close();
    assert.equal(readFileSync(path, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n');
  });

  test('a group of batches is written whole, in order, in one call; a short write goes on where it stopped, at every byte', async () => {
    const path = join(dir, 'group.jsonl');
    const sink = new FileSink({ path, rotateBytes: 0, fsync: false });
    await sink.open();
    const batches = [['{"a":1}', '{"b":"é"}'], [], ['{"c":3}']].map((values) => sink.encode(values.map(record)));
    await sink.writeEncoded(batches);
    await sink.close();
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n{"b":"é"}\n{"c":3}\n');

    // More batches than one writev takes (IOV_MAX is 1,024 on Linux): all of them, in order.
    const many = join(dir, 'many.jsonl');
    const manySink = new FileSink({ path: many, rotateBytes: 0, fsync: false });
    await manySink.open();
    await manySink.writeEncoded(Array.from({ length: 3000 }, (_, i) => manySink.encode([record(`{"n":${i}}`)])));
    await manySink.close();
    assert.equal(readFileSync(many, 'utf8'), Array.from({ length: 3000 }, (_, i) => `{"n":${i}}\n`).join(''));

    const chunks = [Buffer.from('abc'), Buffer.from(''), Buffer.from('de'), Buffer.from('fghij')];
    const all = Buffer.concat(chunks).toString();
    for (let written = 0; written <= all.length; written++) {
      assert.equal(Buffer.concat(afterWritten(chunks, written)).toString(), all.slice(written), `after ${written} bytes`);
    }
    assert.deepEqual(afterWritten(chunks, all.length), []);
    assert.equal(chunks[0]!.toString(), 'abc', 'the chunks given are not changed');
  });

  test('files without a torn tail are untouched, whatever their size; a file of one torn line becomes empty', () => {
    const whole = join(dir, 'whole.jsonl');
    const big = `${'{"pad":"' + 'y'.repeat(100_000) + '"}\n'}`.repeat(3);
    writeFileSync(whole, big);
    assert.equal(repairTornTail(whole), big.length);
    assert.equal(readFileSync(whole, 'utf8'), big);
    const torn = join(dir, 'long-torn.jsonl');
    writeFileSync(torn, `${big}{"pad":"${'z'.repeat(200_000)}`);
    assert.equal(repairTornTail(torn), big.length);
    assert.equal(readFileSync(torn, 'utf8'), big);
    const only = join(dir, 'only-torn.jsonl');
    writeFileSync(only, '{"half');
    assert.equal(repairTornTail(only), 0);
    assert.equal(readFileSync(only, 'utf8'), '');
    assert.equal(repairTornTail(join(dir, 'missing.jsonl')), 0);
  });

  test('a rotation that fails (the directory refuses renames) fails the write retriably; the retry rotates and nothing is lost or doubled', async (t) => {
    const rotating = mkdtempSync(join(dir, 'rotate-'));
    const path = join(rotating, 'out.jsonl');
    const sink = new FileSink({ path, rotateBytes: 20, fsync: true });
    await sink.open();
    try {
      await sink.write([record('{"n":1}'), record('{"n":2}')]);
      // An immutable directory refuses renames even to root; chattr needs ext4 or similar.
      try { execFileSync('chattr', ['+i', rotating], { stdio: 'ignore' }); } catch { t.skip('chattr +i is not available on this filesystem'); return; }
      try {
        await assert.rejects(sink.write([record('{"n":3}')]), (error: Error & { retriable?: boolean }) => {
          assert.match(error.message, /^cannot write .*out\.jsonl: .*(EPERM|not permitted)/);
          assert.equal(error.retriable, true);
          return true;
        });
      } finally {
        execFileSync('chattr', ['-i', rotating]);
      }
      await sink.write([record('{"n":3}')]);
      await sink.write([record('{"n":4}')]);
    } finally {
      await sink.close();
    }
    assert.equal(readFileSync(`${path}.1`, 'utf8'), '{"n":1}\n{"n":2}\n');
    assert.equal(readFileSync(path, 'utf8'), '{"n":3}\n{"n":4}\n');
  });
});
