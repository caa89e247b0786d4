/**
 * The pgoutput logical replication messages, protocol versions 1 to 4, as a
 * discriminated union on `tag`. Field names follow the Postgres documentation,
 * "Logical Replication Message Formats":
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 *
 * LSNs are `bigint`; timestamps are Postgres-epoch microseconds (`bigint`),
 * converted to Unix time only when events are built (core/time.ts).
 */
import type { Lsn } from '../../core/lsn.ts';

/** Wire tags, one byte each. */
export const MessageTag = {
  Begin: 0x42, // 'B'
  Commit: 0x43, // 'C'
  Origin: 0x4f, // 'O'
  Relation: 0x52, // 'R'
  Type: 0x59, // 'Y'
  Insert: 0x49, // 'I'
  Update: 0x55, // 'U'
  Delete: 0x44, // 'D'
  Truncate: 0x54, // 'T'
  Message: 0x4d, // 'M'
  StreamStart: 0x53, // 'S'
  StreamStop: 0x45, // 'E'
  StreamCommit: 0x63, // 'c'
  StreamAbort: 0x41, // 'A'
  BeginPrepare: 0x62, // 'b'
  Prepare: 0x50, // 'P'
  CommitPrepared: 0x4b, // 'K'
  RollbackPrepared: 0x72, // 'r'
  StreamPrepare: 0x70, // 'p'
} as const;

/** One column value of a TupleData. */
export type TupleValue =
  | { kind: 'null' }
  | { kind: 'unchanged-toast' }
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Buffer };

/** Shared singletons: null and unchanged-TOAST carry no data. */
export const NULL_VALUE: TupleValue = Object.freeze({ kind: 'null' });
export const UNCHANGED_TOAST_VALUE: TupleValue = Object.freeze({ kind: 'unchanged-toast' });

export type Tuple = TupleValue[];

export interface RelationColumn {
  /** Part of the replica identity key (flag bit 1). */
  isKey: boolean;
  name: string;
  typeOid: number;
  typeModifier: number;
}

/** 'd' default (primary key), 'n' nothing, 'f' full, 'i' index. */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

export interface BeginMessage { tag: 'begin'; finalLsn: Lsn; commitTime: bigint; xid: number }
export interface CommitMessage { tag: 'commit'; flags: number; commitLsn: Lsn; endLsn: Lsn; commitTime: bigint }
export interface OriginMessage { tag: 'origin'; originLsn: Lsn; name: string }
export interface RelationMessage {
  tag: 'relation';
  /** Set inside a streamed transaction (protocol 2+). */
  xid: number | undefined;
  relationOid: number;
  namespace: string;
  name: string;
  replicaIdentity: ReplicaIdentity;
  columns: RelationColumn[];
}
export interface TypeMessage { tag: 'type'; xid: number | undefined; typeOid: number; namespace: string; name: string }
export interface InsertMessage { tag: 'insert'; xid: number | undefined; relationOid: number; newTuple: Tuple }
export interface UpdateMessage {
  tag: 'update';
  xid: number | undefined;
  relationOid: number;
  /** 'K': old values of the key columns (others null); 'O': the full old row (REPLICA IDENTITY FULL). */
  oldKind: 'key' | 'old' | undefined;
  oldTuple: Tuple | undefined;
  newTuple: Tuple;
}
export interface DeleteMessage {
  tag: 'delete';
  xid: number | undefined;
  relationOid: number;
  oldKind: 'key' | 'old';
  oldTuple: Tuple;
}
export interface TruncateMessage {
  tag: 'truncate';
  xid: number | undefined;
  cascade: boolean;
  restartIdentity: boolean;
  relationOids: number[];
}
export interface LogicalMessage {
  tag: 'message';
  xid: number | undefined;
  transactional: boolean;
  lsn: Lsn;
  prefix: string;
  content: Buffer;
}
export interface StreamStartMessage { tag: 'stream-start'; xid: number; firstSegment: boolean }
export interface StreamStopMessage { tag: 'stream-stop' }
export interface StreamCommitMessage {
  tag: 'stream-commit';
  xid: number;
  flags: number;
  commitLsn: Lsn;
  endLsn: Lsn;
  commitTime: bigint;
}
export interface StreamAbortMessage {
  tag: 'stream-abort';
  xid: number;
  /** Equal to `xid` when the whole transaction aborted, else the aborted subtransaction. */
  subXid: number;
  /** Present only with `streaming 'parallel'` (protocol 4). */
  abortLsn: Lsn | undefined;
  abortTime: bigint | undefined;
}
export interface BeginPrepareMessage {
  tag: 'begin-prepare';
  prepareLsn: Lsn;
  endLsn: Lsn;
  prepareTime: bigint;
  xid: number;
  gid: string;
}
export interface PrepareMessage {
  tag: 'prepare' | 'stream-prepare';
  flags: number;
  prepareLsn: Lsn;
  endLsn: Lsn;
  prepareTime: bigint;
  xid: number;
  gid: string;
}
export interface CommitPreparedMessage {
  tag: 'commit-prepared';
  flags: number;
  commitLsn: Lsn;
  endLsn: Lsn;
  commitTime: bigint;
  xid: number;
  gid: string;
}
export interface RollbackPreparedMessage {
  tag: 'rollback-prepared';
  flags: number;
  prepareEndLsn: Lsn;
  rollbackEndLsn: Lsn;
  prepareTime: bigint;
  rollbackTime: bigint;
  xid: number;
  gid: string;
}

export type PgOutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | StreamStartMessage
  | StreamStopMessage
  | StreamCommitMessage
  | StreamAbortMessage
  | BeginPrepareMessage
  | PrepareMessage
  | CommitPreparedMessage
  | RollbackPreparedMessage;

