/**
 * Pure pgoutput decoder: bytes in, one message out. No I/O, no clock, no catalog.
 * Hand-written because it runs once per change on the hot path.
 *
 * Format reference (quoted names are the documentation's):
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 *
 * Version context is explicit, as in pglogrepl's `ParseV2(data, inStream)`: inside
 * a streamed transaction (between Stream Start and Stream Stop, protocol 2+) the
 * data messages carry the xid of the (sub)transaction as their first field.
 */
import { ProtocolError } from '../../core/errors.ts';
import { ByteReader } from '../byte-reader.ts';
import {
  MessageTag,
  NULL_VALUE,
  UNCHANGED_TOAST_VALUE,
  type PgOutputMessage,
  type RelationColumn,
  type ReplicaIdentity,
  type Tuple,
} from './messages.ts';

export interface DecodeContext {
  /** True between Stream Start and Stream Stop. */
  inStream: boolean;
}

type Decoder = (reader: ByteReader, context: DecodeContext) => PgOutputMessage;

const reader = new ByteReader();

/**
 * Decodes one pgoutput message occupying `buffer[start, end)`. Throws a
 * `ProtocolError` (with the byte offset) for truncated or malformed input.
 * The result owns all its data: nothing refers back to `buffer`.
 */
export function decodePgOutput(buffer: Buffer, context: DecodeContext, start = 0, end = buffer.length): PgOutputMessage {
  if (end <= start) throw new ProtocolError('empty message', start);
  const tagByte = buffer[start]!;
  const decoder = DECODERS[tagByte];
  if (decoder === undefined) {
    throw new ProtocolError(`unknown message tag 0x${tagByte.toString(16).padStart(2, '0')}`, start);
  }
  reader.reset(buffer, start + 1, end, String.fromCharCode(tagByte));
  try {
    const message = decoder(reader, context);
    reader.expectEnd();
    return message;
  } finally {
    reader.release();
  }
}

/**
 * Tracks Stream Start / Stream Stop so callers can feed messages one by one.
 * Still pure: its only state is whether we are inside a stream block.
 */
export class PgOutputDecoder {
  private readonly context: DecodeContext = { inStream: false };

  get inStream(): boolean {
    return this.context.inStream;
  }

  decode(buffer: Buffer, start = 0, end = buffer.length): PgOutputMessage {
    const message = decodePgOutput(buffer, this.context, start, end);
    if (message.tag === 'stream-start') this.context.inStream = true;
    else if (message.tag === 'stream-stop') this.context.inStream = false;
    return message;
  }

  /** See `peekRowChange`. */
  peekRowChange(buffer: Buffer, start: number, end: number): RowChangeHeader | undefined {
    return peekRowChange(buffer, this.context, start, end);
  }
}

/** What routes an Insert, Update or Delete: its operation, (sub)transaction and relation. */
export interface RowChangeHeader {
  op: 'c' | 'u' | 'd';
  xid: number | undefined;
  relationOid: number;
}

/**
 * The header of an Insert, Update or Delete without reading its tuples (they are
 * decoded later, see assemble/row-change.ts); undefined for any other message,
 * or when the header is cut short (the full decoder then reports it).
 */
export function peekRowChange(buffer: Buffer, context: DecodeContext, start: number, end: number): RowChangeHeader | undefined {
  const tag = buffer[start];
  const op = tag === MessageTag.Insert ? 'c' : tag === MessageTag.Update ? 'u' : tag === MessageTag.Delete ? 'd' : undefined;
  if (op === undefined || end - start < (context.inStream ? 9 : 5)) return undefined;
  if (!context.inStream) return { op, xid: undefined, relationOid: buffer.readUInt32BE(start + 1) };
  return { op, xid: buffer.readUInt32BE(start + 1), relationOid: buffer.readUInt32BE(start + 5) };
}

function streamXid(r: ByteReader, context: DecodeContext): number | undefined {
  return context.inStream ? r.uint32('Xid') : undefined;
}

/** TupleData: Int16 column count, then per column 'n' | 'u' | 't' Int32 Byten | 'b' Int32 Byten. */
export function readTuple(r: ByteReader): Tuple {
  const count = r.int16('TupleData column count');
  if (count < 0) throw new ProtocolError(`negative column count ${count}`, r.offset - 2, r.tag);
  const tuple: Tuple = new Array(count);
  for (let i = 0; i < count; i++) {
    const kind = r.uint8('TupleData column kind');
    switch (kind) {
      case 0x6e: // 'n' null
        tuple[i] = NULL_VALUE;
        break;
      case 0x75: // 'u' unchanged TOASTed value (not sent)
        tuple[i] = UNCHANGED_TOAST_VALUE;
        break;
      case 0x74: { // 't' text
        const length = r.int32('TupleData value length');
        if (length < 0) throw new ProtocolError(`negative value length ${length}`, r.offset - 4, r.tag);
        tuple[i] = { kind: 'text', text: r.utf8(length, 'TupleData text value') };
        break;
      }
      case 0x62: { // 'b' binary
        const length = r.int32('TupleData value length');
        if (length < 0) throw new ProtocolError(`negative value length ${length}`, r.offset - 4, r.tag);
        tuple[i] = { kind: 'binary', bytes: r.bytes(length, 'TupleData binary value') };
        break;
      }
      default:
        throw new ProtocolError(`unknown TupleData column kind 0x${kind.toString(16)}`, r.offset - 1, r.tag);
    }
  }
  return tuple;
}

function expectByte(r: ByteReader, expected: number, what: string): void {
  const at = r.offset;
  const got = r.uint8(what);
  if (got !== expected) {
    throw new ProtocolError(`expected ${what} '${String.fromCharCode(expected)}', got 0x${got.toString(16)}`, at, r.tag);
  }
}

const REPLICA_IDENTITIES = new Set(['d', 'n', 'f', 'i']);

const DECODERS: Array<Decoder | undefined> = new Array(256);

DECODERS[MessageTag.Begin] = (r) => ({
  tag: 'begin',
  finalLsn: r.lsn('final LSN'),
  commitTime: r.int64('commit timestamp'),
  xid: r.uint32('Xid'),
});

DECODERS[MessageTag.Commit] = (r) => ({
  tag: 'commit',
  flags: r.uint8('flags'),
  commitLsn: r.lsn('commit LSN'),
  endLsn: r.lsn('end LSN'),
  commitTime: r.int64('commit timestamp'),
});

DECODERS[MessageTag.Origin] = (r) => ({
  tag: 'origin',
  originLsn: r.lsn('origin commit LSN'),
  name: r.cstring('origin name'),
});

DECODERS[MessageTag.Relation] = (r, context) => {
  const xid = streamXid(r, context);
  const relationOid = r.uint32('relation OID');
  const namespace = r.cstring('namespace');
  const name = r.cstring('relation name');
  const identityAt = r.offset;
  const replicaIdentity = r.char('replica identity');
  if (!REPLICA_IDENTITIES.has(replicaIdentity)) {
    throw new ProtocolError(`unknown replica identity ${JSON.stringify(replicaIdentity)}`, identityAt, r.tag);
  }
  const count = r.int16('column count');
  if (count < 0) throw new ProtocolError(`negative column count ${count}`, r.offset - 2, r.tag);
  const columns: RelationColumn[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const flags = r.uint8('column flags');
    columns[i] = {
      isKey: (flags & 1) === 1,
      name: r.cstring('column name'),
      typeOid: r.uint32('column type OID'),
      typeModifier: r.int32('column type modifier'),
    };
  }
  return { tag: 'relation', xid, relationOid, namespace, name, replicaIdentity: replicaIdentity as ReplicaIdentity, columns };
};

DECODERS[MessageTag.Type] = (r, context) => ({
  tag: 'type',
  xid: streamXid(r, context),
  typeOid: r.uint32('type OID'),
  namespace: r.cstring('namespace'),
  name: r.cstring('type name'),
});

DECODERS[MessageTag.Insert] = (r, context) => {
  const xid = streamXid(r, context);
  const relationOid = r.uint32('relation OID');
  expectByte(r, 0x4e, 'new tuple marker'); // 'N'
  return { tag: 'insert', xid, relationOid, newTuple: readTuple(r) };
};

DECODERS[MessageTag.Update] = (r, context) => {
  const xid = streamXid(r, context);
  const relationOid = r.uint32('relation OID');
  const markerAt = r.offset;
  let marker = r.uint8('tuple marker');
  let oldKind: 'key' | 'old' | undefined;
  let oldTuple: Tuple | undefined;
  if (marker === 0x4b /* 'K' */ || marker === 0x4f /* 'O' */) {
    oldKind = marker === 0x4b ? 'key' : 'old';
    oldTuple = readTuple(r);
    marker = r.uint8('new tuple marker');
  }
  if (marker !== 0x4e /* 'N' */) {
    throw new ProtocolError(`expected tuple marker 'K', 'O' or 'N', got 0x${marker.toString(16)}`, oldKind ? r.offset - 1 : markerAt, r.tag);
  }
  return { tag: 'update', xid, relationOid, oldKind, oldTuple, newTuple: readTuple(r) };
};

DECODERS[MessageTag.Delete] = (r, context) => {
  const xid = streamXid(r, context);
  const relationOid = r.uint32('relation OID');
  const markerAt = r.offset;
  const marker = r.uint8('tuple marker');
  if (marker !== 0x4b && marker !== 0x4f) {
    throw new ProtocolError(`expected tuple marker 'K' or 'O', got 0x${marker.toString(16)}`, markerAt, r.tag);
  }
  return { tag: 'delete', xid, relationOid, oldKind: marker === 0x4b ? 'key' : 'old', oldTuple: readTuple(r) };
};

DECODERS[MessageTag.Truncate] = (r, context) => {
  const xid = streamXid(r, context);
  const count = r.int32('relation count');
  if (count < 0) throw new ProtocolError(`negative relation count ${count}`, r.offset - 4, r.tag);
  const options = r.uint8('options');
  const relationOids: number[] = new Array(count);
  for (let i = 0; i < count; i++) relationOids[i] = r.uint32('relation OID');
  return { tag: 'truncate', xid, cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0, relationOids };
};

DECODERS[MessageTag.Message] = (r, context) => {
  const xid = streamXid(r, context);
  const flags = r.uint8('flags');
  const lsn = r.lsn('message LSN');
  const prefix = r.cstring('prefix');
  const length = r.int32('content length');
  if (length < 0) throw new ProtocolError(`negative content length ${length}`, r.offset - 4, r.tag);
  return { tag: 'message', xid, transactional: (flags & 1) === 1, lsn, prefix, content: r.bytes(length, 'content') };
};

DECODERS[MessageTag.StreamStart] = (r) => ({
  tag: 'stream-start',
  xid: r.uint32('Xid'),
  firstSegment: r.uint8('first segment') === 1,
});

DECODERS[MessageTag.StreamStop] = () => ({ tag: 'stream-stop' });

DECODERS[MessageTag.StreamCommit] = (r) => ({
  tag: 'stream-commit',
  xid: r.uint32('Xid'),
  flags: r.uint8('flags'),
  commitLsn: r.lsn('commit LSN'),
  endLsn: r.lsn('end LSN'),
  commitTime: r.int64('commit timestamp'),
});

DECODERS[MessageTag.StreamAbort] = (r) => {
  const xid = r.uint32('Xid');
  const subXid = r.uint32('subtransaction Xid');
  // Protocol 4 adds the abort LSN and timestamp only with streaming = parallel,
  // so their presence is read off the message length rather than the version.
  if (r.remaining === 0) return { tag: 'stream-abort', xid, subXid, abortLsn: undefined, abortTime: undefined };
  return { tag: 'stream-abort', xid, subXid, abortLsn: r.lsn('abort LSN'), abortTime: r.int64('abort timestamp') };
};

DECODERS[MessageTag.BeginPrepare] = (r) => ({
  tag: 'begin-prepare',
  prepareLsn: r.lsn('prepare LSN'),
  endLsn: r.lsn('end LSN'),
  prepareTime: r.int64('prepare timestamp'),
  xid: r.uint32('Xid'),
  gid: r.cstring('gid'),
});

const decodePrepare = (tag: 'prepare' | 'stream-prepare'): Decoder => (r) => ({
  tag,
  flags: r.uint8('flags'),
  prepareLsn: r.lsn('prepare LSN'),
  endLsn: r.lsn('end LSN'),
  prepareTime: r.int64('prepare timestamp'),
  xid: r.uint32('Xid'),
  gid: r.cstring('gid'),
});
DECODERS[MessageTag.Prepare] = decodePrepare('prepare');
DECODERS[MessageTag.StreamPrepare] = decodePrepare('stream-prepare');

DECODERS[MessageTag.CommitPrepared] = (r) => ({
  tag: 'commit-prepared',
  flags: r.uint8('flags'),
  commitLsn: r.lsn('commit LSN'),
  endLsn: r.lsn('end LSN'),
  commitTime: r.int64('commit timestamp'),
  xid: r.uint32('Xid'),
  gid: r.cstring('gid'),
});

DECODERS[MessageTag.RollbackPrepared] = (r) => ({
  tag: 'rollback-prepared',
  flags: r.uint8('flags'),
  prepareEndLsn: r.lsn('prepare end LSN'),
  rollbackEndLsn: r.lsn('rollback end LSN'),
  prepareTime: r.int64('prepare timestamp'),
  rollbackTime: r.int64('rollback timestamp'),
  xid: r.uint32('Xid'),
  gid: r.cstring('gid'),
});
