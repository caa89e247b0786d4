import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/core/errors.ts';
import { decodePgOutput, peekRowChange, PgOutputDecoder } from '../../src/decode/pgoutput/decode.ts';
import { NULL_VALUE, UNCHANGED_TOAST_VALUE } from '../../src/decode/pgoutput/messages.ts';
import { pgoutput } from '../support/pgoutput-builder.ts';

const outside = { inStream: false };
const inside = { inStream: true };
const LSN = 0x1_0016_b3c8n;
const TIME = 784_512_345_678_901n;

describe('pgoutput decoder: every message of protocol versions 1-4', () => {
  test('Begin', () => {
    assert.deepEqual(decodePgOutput(pgoutput.begin(LSN, TIME, 771), outside), { tag: 'begin', finalLsn: LSN, commitTime: TIME, xid: 771 });
  });
  test('Commit', () => {
    assert.deepEqual(decodePgOutput(pgoutput.commit(LSN, LSN + 48n, TIME), outside), { tag: 'commit', flags: 0, commitLsn: LSN, endLsn: LSN + 48n, commitTime: TIME });
  });
  test('Origin', () => {
    assert.deepEqual(decodePgOutput(pgoutput.origin(LSN, 'node_a'), outside), { tag: 'origin', originLsn: LSN, name: 'node_a' });
  });
  test('Relation, outside and inside a stream, with key flags and typmods', () => {
    const columns = [{ name: 'id', type: 23, key: true }, { name: 'név', type: 1043, typmod: 68 }];
    assert.deepEqual(decodePgOutput(pgoutput.relation(16384, 'public', 'users', columns, { identity: 'f' }), outside), {
      tag: 'relation', xid: undefined, relationOid: 16384, namespace: 'public', name: 'users', replicaIdentity: 'f',
      columns: [{ isKey: true, name: 'id', typeOid: 23, typeModifier: -1 }, { isKey: false, name: 'név', typeOid: 1043, typeModifier: 68 }],
    });
    const streamed = decodePgOutput(pgoutput.relation(16384, 'public', 'users', columns, { xid: 900 }), inside);
    assert.equal(streamed.tag === 'relation' && streamed.xid, 900);
  });
  test('Type', () => {
    assert.deepEqual(decodePgOutput(pgoutput.type(17000, 'public', 'mood'), outside), { tag: 'type', xid: undefined, typeOid: 17000, namespace: 'public', name: 'mood' });
  });
  test('Insert with text, null, unchanged TOAST and binary columns', () => {
    const message = decodePgOutput(pgoutput.insert(16384, ['1', null, 'toast', { binary: Buffer.from([1, 2]) }, '']), outside);
    assert.deepEqual(message, {
      tag: 'insert', xid: undefined, relationOid: 16384,
      newTuple: [{ kind: 'text', text: '1' }, NULL_VALUE, UNCHANGED_TOAST_VALUE, { kind: 'binary', bytes: Buffer.from([1, 2]) }, { kind: 'text', text: '' }],
    });
  });
  test('Update without old tuple, with old key (K) and with full old row (O)', () => {
    const plain = decodePgOutput(pgoutput.update(1, ['1', 'b']), outside);
    assert.deepEqual(plain, { tag: 'update', xid: undefined, relationOid: 1, oldKind: undefined, oldTuple: undefined, newTuple: [{ kind: 'text', text: '1' }, { kind: 'text', text: 'b' }] });
    const key = decodePgOutput(pgoutput.update(1, ['2', 'b'], { kind: 'K', columns: ['1', null] }), outside);
    assert.equal(key.tag === 'update' && key.oldKind, 'key');
    const old = decodePgOutput(pgoutput.update(1, ['1', 'b'], { kind: 'O', columns: ['1', 'a'] }, 5), inside);
    assert.deepEqual(old.tag === 'update' && [old.oldKind, old.xid, old.oldTuple], ['old', 5, [{ kind: 'text', text: '1' }, { kind: 'text', text: 'a' }]]);
  });
  test('Delete with key and with full old row', () => {
    assert.deepEqual(decodePgOutput(pgoutput.delete(1, 'K', ['7', null]), outside), { tag: 'delete', xid: undefined, relationOid: 1, oldKind: 'key', oldTuple: [{ kind: 'text', text: '7' }, NULL_VALUE] });
    const full = decodePgOutput(pgoutput.delete(1, 'O', ['7', 'x']), outside);
    assert.equal(full.tag === 'delete' && full.oldKind, 'old');
  });
  test('Truncate with CASCADE and RESTART IDENTITY', () => {
    assert.deepEqual(decodePgOutput(pgoutput.truncate([1, 2], 3), outside), { tag: 'truncate', xid: undefined, cascade: true, restartIdentity: true, relationOids: [1, 2] });
    assert.deepEqual(decodePgOutput(pgoutput.truncate([1], 0, 8), inside), { tag: 'truncate', xid: 8, cascade: false, restartIdentity: false, relationOids: [1] });
  });
  test('Message, transactional and not, text and binary content', () => {
    assert.deepEqual(decodePgOutput(pgoutput.message(true, LSN, 'outbox', '{"a":1}'), outside), {
      tag: 'message', xid: undefined, transactional: true, lsn: LSN, prefix: 'outbox', content: Buffer.from('{"a":1}'),
    });
    const binary = decodePgOutput(pgoutput.message(false, LSN, 'bin', Buffer.from([0xff, 0x00]), 12), inside);
    assert.deepEqual(binary.tag === 'message' && [binary.transactional, binary.xid, [...binary.content]], [false, 12, [0xff, 0]]);
  });
  test('Stream Start, Stop, Commit', () => {
    assert.deepEqual(decodePgOutput(pgoutput.streamStart(900, true), outside), { tag: 'stream-start', xid: 900, firstSegment: true });
    assert.deepEqual(decodePgOutput(pgoutput.streamStop(), inside), { tag: 'stream-stop' });
    assert.deepEqual(decodePgOutput(pgoutput.streamCommit(900, LSN, LSN + 8n, TIME), outside), { tag: 'stream-commit', xid: 900, flags: 0, commitLsn: LSN, endLsn: LSN + 8n, commitTime: TIME });
  });
  test('Stream Abort without and with the parallel-apply fields (protocol 4)', () => {
    assert.deepEqual(decodePgOutput(pgoutput.streamAbort(900, 901), outside), { tag: 'stream-abort', xid: 900, subXid: 901, abortLsn: undefined, abortTime: undefined });
    assert.deepEqual(decodePgOutput(pgoutput.streamAbort(900, 900, { lsn: LSN, time: TIME }), outside), { tag: 'stream-abort', xid: 900, subXid: 900, abortLsn: LSN, abortTime: TIME });
  });
  test('two-phase: Begin Prepare, Prepare, Commit Prepared, Rollback Prepared, Stream Prepare', () => {
    assert.deepEqual(decodePgOutput(pgoutput.beginPrepare(LSN, LSN + 1n, TIME, 5, 'gid1'), outside), { tag: 'begin-prepare', prepareLsn: LSN, endLsn: LSN + 1n, prepareTime: TIME, xid: 5, gid: 'gid1' });
    assert.deepEqual(decodePgOutput(pgoutput.prepare('P', LSN, LSN + 1n, TIME, 5, 'gid1'), outside), { tag: 'prepare', flags: 0, prepareLsn: LSN, endLsn: LSN + 1n, prepareTime: TIME, xid: 5, gid: 'gid1' });
    assert.equal(decodePgOutput(pgoutput.prepare('p', LSN, LSN + 1n, TIME, 5, 'g'), outside).tag, 'stream-prepare');
    assert.deepEqual(decodePgOutput(pgoutput.commitPrepared(LSN, LSN + 1n, TIME, 5, 'gid1'), outside), { tag: 'commit-prepared', flags: 0, commitLsn: LSN, endLsn: LSN + 1n, commitTime: TIME, xid: 5, gid: 'gid1' });
    assert.deepEqual(decodePgOutput(pgoutput.rollbackPrepared(LSN, LSN + 2n, TIME, TIME + 1n, 5, 'gid1'), outside), {
      tag: 'rollback-prepared', flags: 0, prepareEndLsn: LSN, rollbackEndLsn: LSN + 2n, prepareTime: TIME, rollbackTime: TIME + 1n, xid: 5, gid: 'gid1',
    });
  });
  test('PgOutputDecoder reads the xid only inside Stream Start/Stop', () => {
    const decoder = new PgOutputDecoder();
    decoder.decode(pgoutput.streamStart(900, true));
    const inStream = decoder.decode(pgoutput.insert(1, ['1'], 901));
    assert.equal(inStream.tag === 'insert' && inStream.xid, 901);
    decoder.decode(pgoutput.streamStop());
    const after = decoder.decode(pgoutput.insert(1, ['1']));
    assert.equal(after.tag === 'insert' && after.xid, undefined);
  });
  test('decodes a message in the middle of a larger buffer without touching its neighbours', () => {
    const message = pgoutput.insert(3, ['x']);
    const buffer = Buffer.concat([Buffer.from('junk'), message, Buffer.from('more')]);
    const decoded = decodePgOutput(buffer, outside, 4, 4 + message.length);
    assert.equal(decoded.tag, 'insert');
    buffer.fill(0);
    assert.deepEqual(decoded.tag === 'insert' && decoded.newTuple, [{ kind: 'text', text: 'x' }], 'decoded values must not alias the input buffer');
  });
});

describe('pgoutput decoder: malformed and truncated input', () => {
  const samples: Record<string, Buffer> = {
    begin: pgoutput.begin(LSN, TIME, 1),
    commit: pgoutput.commit(LSN, LSN, TIME),
    relation: pgoutput.relation(1, 'public', 't', [{ name: 'id', type: 23, key: true }]),
    insert: pgoutput.insert(1, ['1', null, 'toast']),
    update: pgoutput.update(1, ['1'], { kind: 'O', columns: ['2'] }),
    delete: pgoutput.delete(1, 'K', ['1']),
    truncate: pgoutput.truncate([1, 2], 0),
    message: pgoutput.message(true, LSN, 'p', 'hello'),
    streamCommit: pgoutput.streamCommit(1, LSN, LSN, TIME),
    commitPrepared: pgoutput.commitPrepared(LSN, LSN, TIME, 1, 'g'),
  };
  for (const [name, bytes] of Object.entries(samples)) {
    test(`${name}: every truncation gives a ProtocolError with an offset, never a crash`, () => {
      for (let cut = 1; cut < bytes.length; cut++) {
        assert.throws(() => decodePgOutput(bytes.subarray(0, cut), outside), (error: unknown) => {
          assert.ok(error instanceof ProtocolError, `cut at ${cut}: ${String(error)}`);
          assert.equal(error.code, 'PGCDC_PROTOCOL');
          assert.ok(error.offset >= 0 && error.offset <= cut, `offset ${error.offset} within the input`);
          return true;
        });
      }
    });
  }
  test('unknown tag, unknown tuple kind, bad markers, negative lengths and trailing bytes', () => {
    assert.throws(() => decodePgOutput(Buffer.from('Z'), outside), /unknown message tag 0x5a/);
    assert.throws(() => decodePgOutput(Buffer.alloc(0), outside), /empty message/);
    const badKind = pgoutput.insert(1, ['1']);
    badKind[8] = 'x'.charCodeAt(0);
    assert.throws(() => decodePgOutput(badKind, outside), /unknown TupleData column kind 0x78 at byte 8/);
    const badMarker = pgoutput.insert(1, ['1']);
    badMarker[5] = 'Q'.charCodeAt(0);
    assert.throws(() => decodePgOutput(badMarker, outside), /expected new tuple marker 'N'/);
    const negative = pgoutput.message(true, LSN, 'p', 'x');
    negative.writeInt32BE(-5, negative.length - 5);
    assert.throws(() => decodePgOutput(negative, outside), /negative content length -5/);
    assert.throws(() => decodePgOutput(Buffer.concat([pgoutput.streamStop(), Buffer.from([0])]), outside), /1 unexpected trailing bytes/);
    const badIdentity = pgoutput.relation(1, 'public', 't', [], { identity: 'z' });
    assert.throws(() => decodePgOutput(badIdentity, outside), /unknown replica identity "z"/);
  });
  test('random bytes never escape as anything but ProtocolError', () => {
    let seed = 42;
    const random = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    const tags = [...'BCORYIUDTMSEcAbPKrp'];
    for (let i = 0; i < 5000; i++) {
      const length = 1 + (random() % 40);
      const bytes = Buffer.alloc(length);
      for (let k = 0; k < length; k++) bytes[k] = random() & 0xff;
      bytes[0] = tags[random() % tags.length]!.charCodeAt(0);
      try {
        decodePgOutput(bytes, { inStream: random() % 2 === 0 });
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `input ${bytes.toString('hex')}: ${String(error)}`);
      }
    }
  });
});

describe('peekRowChange (the header a deferred row change keeps)', () => {
  test('operation, xid and relation agree with the full decoder, outside and inside a stream block', () => {
    const cases: Array<[Buffer, typeof outside, 'c' | 'u' | 'd']> = [
      [pgoutput.insert(16384, ['1', 'a']), outside, 'c'],
      [pgoutput.insert(16384, ['1', 'a'], 77), inside, 'c'],
      [pgoutput.update(16385, ['1', 'b'], { kind: 'O', columns: ['1', 'a'] }), outside, 'u'],
      [pgoutput.update(16385, ['1', 'b'], undefined, 78), inside, 'u'],
      [pgoutput.delete(16386, 'K', ['7', null]), outside, 'd'],
    ];
    for (const [bytes, context, op] of cases) {
      const full = decodePgOutput(bytes, context) as { xid: number | undefined; relationOid: number };
      assert.deepEqual(peekRowChange(bytes, context, 0, bytes.length), { op, xid: full.xid, relationOid: full.relationOid });
    }
  });

  test('any other message, or a header cut short, is left to the full decoder', () => {
    const insert = pgoutput.insert(16384, ['1']);
    assert.equal(peekRowChange(pgoutput.begin(LSN, TIME, 771), outside, 0, 21), undefined);
    assert.equal(peekRowChange(pgoutput.message(true, LSN, 'outbox', '{}'), outside, 0, 20), undefined);
    assert.equal(peekRowChange(insert, outside, 0, 4), undefined);
    assert.equal(peekRowChange(insert, inside, 0, 8), undefined);
    assert.throws(() => decodePgOutput(insert.subarray(0, 4), outside), ProtocolError);
  });
});
