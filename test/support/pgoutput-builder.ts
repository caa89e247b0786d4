/**
 * Builds pgoutput and replication-protocol bytes by hand, for decoder tests
 * (like pg-protocol's testing/test-buffers.ts). Field order follows the
 * "Logical Replication Message Formats" documentation.
 */
export class Bytes {
  private readonly parts: Buffer[] = [];

  byte(value: number | string): this {
    this.parts.push(Buffer.from([typeof value === 'string' ? value.charCodeAt(0) : value]));
    return this;
  }
  int16(value: number): this {
    const b = Buffer.alloc(2); b.writeInt16BE(value); this.parts.push(b); return this;
  }
  int32(value: number): this {
    const b = Buffer.alloc(4); b.writeInt32BE(value); this.parts.push(b); return this;
  }
  uint32(value: number): this {
    const b = Buffer.alloc(4); b.writeUInt32BE(value); this.parts.push(b); return this;
  }
  int64(value: bigint): this {
    const b = Buffer.alloc(8); b.writeBigInt64BE(value); this.parts.push(b); return this;
  }
  uint64(value: bigint): this {
    const b = Buffer.alloc(8); b.writeBigUInt64BE(value); this.parts.push(b); return this;
  }
  cstring(value: string): this {
    this.parts.push(Buffer.from(value, 'utf8'), Buffer.from([0])); return this;
  }
  raw(value: Buffer | string): this {
    this.parts.push(typeof value === 'string' ? Buffer.from(value, 'utf8') : value); return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export type TestColumn = null | 'toast' | string | { binary: Buffer };

export function tupleData(b: Bytes, columns: TestColumn[]): Bytes {
  b.int16(columns.length);
  for (const c of columns) {
    if (c === null) b.byte('n');
    else if (c === 'toast') b.byte('u');
    else if (typeof c === 'string') { const v = Buffer.from(c, 'utf8'); b.byte('t').int32(v.length).raw(v); }
    else b.byte('b').int32(c.binary.length).raw(c.binary);
  }
  return b;
}

export const pgoutput = {
  begin: (finalLsn: bigint, commitTime: bigint, xid: number) => new Bytes().byte('B').uint64(finalLsn).int64(commitTime).uint32(xid).build(),
  commit: (commitLsn: bigint, endLsn: bigint, commitTime: bigint) => new Bytes().byte('C').byte(0).uint64(commitLsn).uint64(endLsn).int64(commitTime).build(),
  origin: (lsn: bigint, name: string) => new Bytes().byte('O').uint64(lsn).cstring(name).build(),
  relation: (oid: number, namespace: string, name: string, columns: Array<{ name: string; type: number; key?: boolean; typmod?: number }>, options: { xid?: number; identity?: string } = {}) => {
    const b = new Bytes().byte('R');
    if (options.xid !== undefined) b.uint32(options.xid);
    b.uint32(oid).cstring(namespace).cstring(name).byte(options.identity ?? 'd').int16(columns.length);
    for (const c of columns) b.byte(c.key ? 1 : 0).cstring(c.name).uint32(c.type).int32(c.typmod ?? -1);
    return b.build();
  },
  type: (oid: number, namespace: string, name: string, xid?: number) => {
    const b = new Bytes().byte('Y');
    if (xid !== undefined) b.uint32(xid);
    return b.uint32(oid).cstring(namespace).cstring(name).build();
  },
  insert: (relid: number, columns: TestColumn[], xid?: number) => {
    const b = new Bytes().byte('I');
    if (xid !== undefined) b.uint32(xid);
    return tupleData(b.uint32(relid).byte('N'), columns).build();
  },
  update: (relid: number, newColumns: TestColumn[], old?: { kind: 'K' | 'O'; columns: TestColumn[] }, xid?: number) => {
    const b = new Bytes().byte('U');
    if (xid !== undefined) b.uint32(xid);
    b.uint32(relid);
    if (old) tupleData(b.byte(old.kind), old.columns);
    return tupleData(b.byte('N'), newColumns).build();
  },
  delete: (relid: number, kind: 'K' | 'O', columns: TestColumn[], xid?: number) => {
    const b = new Bytes().byte('D');
    if (xid !== undefined) b.uint32(xid);
    return tupleData(b.uint32(relid).byte(kind), columns).build();
  },
  truncate: (relids: number[], options: number, xid?: number) => {
    const b = new Bytes().byte('T');
    if (xid !== undefined) b.uint32(xid);
    b.int32(relids.length).byte(options);
    for (const r of relids) b.uint32(r);
    return b.build();
  },
  message: (transactional: boolean, lsn: bigint, prefix: string, content: Buffer | string, xid?: number) => {
    const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const b = new Bytes().byte('M');
    if (xid !== undefined) b.uint32(xid);
    return b.byte(transactional ? 1 : 0).uint64(lsn).cstring(prefix).int32(body.length).raw(body).build();
  },
  streamStart: (xid: number, first: boolean) => new Bytes().byte('S').uint32(xid).byte(first ? 1 : 0).build(),
  streamStop: () => new Bytes().byte('E').build(),
  streamCommit: (xid: number, commitLsn: bigint, endLsn: bigint, commitTime: bigint) => new Bytes().byte('c').uint32(xid).byte(0).uint64(commitLsn).uint64(endLsn).int64(commitTime).build(),
  streamAbort: (xid: number, subXid: number, parallel?: { lsn: bigint; time: bigint }) => {
    const b = new Bytes().byte('A').uint32(xid).uint32(subXid);
    if (parallel) b.uint64(parallel.lsn).int64(parallel.time);
    return b.build();
  },
  beginPrepare: (prepareLsn: bigint, endLsn: bigint, time: bigint, xid: number, gid: string) => new Bytes().byte('b').uint64(prepareLsn).uint64(endLsn).int64(time).uint32(xid).cstring(gid).build(),
  prepare: (tag: 'P' | 'p', prepareLsn: bigint, endLsn: bigint, time: bigint, xid: number, gid: string) => new Bytes().byte(tag).byte(0).uint64(prepareLsn).uint64(endLsn).int64(time).uint32(xid).cstring(gid).build(),
  commitPrepared: (commitLsn: bigint, endLsn: bigint, time: bigint, xid: number, gid: string) => new Bytes().byte('K').byte(0).uint64(commitLsn).uint64(endLsn).int64(time).uint32(xid).cstring(gid).build(),
  rollbackPrepared: (prepareEnd: bigint, rollbackEnd: bigint, prepareTime: bigint, rollbackTime: bigint, xid: number, gid: string) =>
    new Bytes().byte('r').byte(0).uint64(prepareEnd).uint64(rollbackEnd).int64(prepareTime).int64(rollbackTime).uint32(xid).cstring(gid).build(),
};

/** Wraps a payload as XLogData inside a CopyData backend message. */
export function copyDataXLog(walStart: bigint, walEnd: bigint, payload: Buffer): Buffer {
  const body = new Bytes().byte('w').uint64(walStart).uint64(walEnd).int64(0n).raw(payload).build();
  return new Bytes().byte('d').int32(body.length + 4).raw(body).build();
}

export function copyDataKeepalive(walEnd: bigint, replyRequested: boolean): Buffer {
  const body = new Bytes().byte('k').uint64(walEnd).int64(0n).byte(replyRequested ? 1 : 0).build();
  return new Bytes().byte('d').int32(body.length + 4).raw(body).build();
}
