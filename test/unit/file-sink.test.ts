/** The file sink after a crash: a torn last line (never confirmed) is cut off before appending. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileSink, repairTornTail } from '../../src/sink/file-sink.ts';
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
});
