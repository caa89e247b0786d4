/** Options, batches and statistics of a change stream (engine/change-stream.ts). */
import type { Lsn } from '../core/lsn.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import type { AuditOptions } from '../transform/audit-enricher.ts';
import type { NamedTransform } from '../transform/transform-chain.ts';
import type { FilterOptions } from '../transform/event-filter.ts';
import type { OutboxOptions } from '../transform/outbox-router.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { HeartbeatOptions } from './heartbeat.ts';
import type { SnapshotProgress } from '../snapshot/initial-snapshot.ts';
import type { IncrementalProgress } from '../snapshot/incremental-snapshot.ts';

export type { SnapshotProgress } from '../snapshot/initial-snapshot.ts';
export type { IncrementalProgress } from '../snapshot/incremental-snapshot.ts';

export interface SnapshotOptions {
  /**
   * initial: read the tables when pgcdc creates the slot (and resume an
   * interrupted snapshot); never; initial_only: the snapshot, then end without
   * streaming; always: at every start (from a new transaction when the slot
   * already exists). Default: never for the library and `tail`, initial for `run`.
   */
  mode?: 'initial' | 'never' | 'initial_only' | 'always';
  /** Rows per chunk query at most (default 2,000): fewer when rows are wide or readers many (snapshot/chunk-sizer.ts). */
  chunkSize?: number;
  /**
   * Readers at once, each its own connection in the same snapshot: tables, and
   * key ranges of large tables, are read side by side (default 1 for the
   * library and `tail`; `run` defaults to 2, see docs/snapshots.md).
   */
  parallelism?: number;
  /** Tables to read ("schema.table"); default the publication's tables. */
  tables?: string[];
  /** Unique key columns for tables without a primary key: { "public.events": ["id"] }. */
  keys?: Record<string, string[]>;
  /** Where progress is kept so an interrupted snapshot resumes (without it, an interrupted snapshot is not resumed). */
  stateFile?: string;
  /** After each confirmed chunk. */
  onProgress?: (progress: SnapshotProgress) => void;
  /**
   * Incremental snapshots on `pgcdc.signal` messages (docs/snapshots.md); default
   * true. Set false to ignore signals.
   */
  signals?: boolean;
  /** Rows per incremental chunk (default 1,024): a chunk's rows wait in memory for its high watermark. */
  incrementalChunkSize?: number;
  /** After each confirmed incremental chunk. */
  onIncrementalProgress?: (progress: IncrementalProgress) => void;
}

export interface ChangeStreamOptions {
  /**
   * The slot's output plugin (default pgoutput). wal2json (format-version 2) and
   * test_decoding give the same events with the differences in docs/read.md.
   */
  plugin?: 'pgoutput' | 'wal2json' | 'test_decoding';
  /** Connection URL; default DATABASE_URL, then the PG* environment variables. */
  connection?: string;
  slot?: string;
  publication?: string;
  /** Tables for a publication pgcdc creates; empty means every table with a replica identity (docs/decisions/0009). */
  publicationTables?: string[];
  /** Create the slot if missing (default true). */
  createSlot?: boolean;
  /** A temporary slot, dropped when the stream ends. */
  temporary?: boolean;
  /**
   * Keep pgcdc's own record of the acknowledged position in the source database
   * (table pgcdc.delivered), so that after a PostgreSQL crash only what was in
   * flight is delivered again (default true; docs/lsn-and-acks.md).
   */
  deliveredRecord?: boolean;
  /**
   * A slot lost since the last run (invalidated, or dropped though pgcdc
   * delivered from it): `stop` (default) fails with PGCDC_SLOT_LOST; `resnapshot`
   * makes a new slot, delivers a `pgcdc.gap` event, reads the tables again in
   * the new slot's exported snapshot, then streams.
   */
  onSlotLost?: 'stop' | 'resnapshot';
  /** PostgreSQL 17+: create the slot with FAILOVER, synchronized to standbys that sync slots (default true). */
  failover?: boolean;
  /** Logical source name, Debezium's `topic.prefix` (default "pgcdc"). */
  sourceName?: string;
  toastPlaceholder?: string;
  /** Estimated bytes open transactions may hold before spilling to disk (default 16 MiB, transaction-assembler.ts says why). */
  memoryBudgetBytes?: number;
  spillDir?: string;
  /** Events per batch of a large transaction (default 250, transaction-chunks.ts says why). */
  batchSize?: number;
  /** Stop reading the socket while this many events wait for the consumer (default 2,000; change-queue.ts says why). */
  maxQueuedEvents?: number;
  /** How often to send standby status updates (default 10 s). */
  statusIntervalMs?: number;
  /** Stop after everything up to this position (like pg_recvlogical -E). */
  untilLsn?: Lsn;
  filter?: FilterOptions;
  /** Outbox routing of `outbox` messages and outbox tables (default on; false to turn off). */
  outbox?: OutboxOptions | false;
  /** Audit context from `audit` messages attached to change events (default on; false to turn off). */
  audit?: AuditOptions | false;
  /** Your transforms, run last, in order. */
  transforms?: NamedTransform[];
  /**
   * What to do with events a transform rejects: hand them to the consumer as
   * dead letters and go on (default), or stop the stream with PGCDC_REJECTED_EVENT
   * without acknowledging the batch.
   */
  onRejected?: 'dead-letter' | 'stop';
  /** Heartbeat messages that keep idle slots advancing (default every 10 s; false to turn off). */
  heartbeat?: HeartbeatOptions | false;
  /**
   * Acknowledge keepalive positions when nothing is in flight (default true), so
   * idle slots release WAL without heartbeats. False acknowledges only delivered
   * data, as Debezium does; then heartbeats are what keeps an idle slot moving.
   */
  acknowledgeKeepalives?: boolean;
  /** Ask for streaming of large in-progress transactions (default true). */
  streaming?: boolean;
  /**
   * How long to wait for a slot that is still active (a previous consumer's
   * walsender exiting) before failing with PGCDC_SLOT_IN_USE (default 5 s).
   */
  slotWaitMs?: number;
  /** How often to read the slot's retained WAL and wal_status (default 30 s). */
  slotHealthIntervalMs?: number;
  /** Warn (onNotice) when the slot retains more WAL than this (default 1 GiB). */
  retainedWalWarnBytes?: number;
  /** Read existing rows first (op "r" events) before streaming; see SnapshotOptions. */
  snapshot?: SnapshotOptions;
  /** Diagnostics (slot created, publication created, slot health warnings, ...). */
  onNotice?: (message: string) => void;
  /**
   * Stops the stream when aborted: before it is open, `open` rejects with
   * PGCDC_ABORTED (and leaves no connection behind); after, the iteration ends
   * after the batch being handled and the stream stops as with `stop()`.
   */
  signal?: AbortSignal;
}

export interface EventBatch {
  events: ChangeEvent[];
  /**
   * Events the transforms rejected for good, with reasons. Write them to the
   * dead-letter destination before calling `confirm()`: they count as handled.
   */
  deadLetters: DeadLetter[];
  /** Set on the batch that completes a transaction (or a non-transactional message). */
  endLsn: Lsn | undefined;
  /** The consumer handled every event of this batch. */
  confirm(): void;
}

export interface StreamStats {
  /** The initial snapshot's progress, once it has started. */
  snapshot: SnapshotProgress | undefined;
  /** The incremental snapshot's last confirmed chunk, once one was. */
  incrementalSnapshot: IncrementalProgress | undefined;
  slot: string;
  startLsn: Lsn;
  safeLsn: Lsn;
  lastReceivedLsn: Lsn;
  bytesReceived: number;
  eventsDelivered: number;
  transactions: number;
  queuedEvents: number;
  /** Estimated bytes open transactions hold in memory now (`memoryBudgetBytes` bounds it; beyond it they spill to disk). */
  memoryUsed: number;
  /**
   * The most they held at once since the stream opened: one change may take it
   * past the budget, just before the spill that change starts.
   */
  memoryPeak: number;
  /** From the last slot health check (undefined before the first). */
  retainedWalBytes: number | undefined;
  walStatus: string | undefined;
  heartbeatsSent: number;
}
