/** A pipeline's configuration as the change stream takes it. */
import { durationMs, sizeBytes, type PipelineConfig } from '../config/schema.ts';
import type { ChangeStreamOptions } from '../engine/change-stream.ts';
import { defaultSnapshotStateFile } from '../snapshot/snapshot-state.ts';
import type { SnapshotProgress } from '../snapshot/initial-snapshot.ts';
import type { IncrementalProgress } from '../snapshot/incremental-snapshot.ts';
import type { NamedTransform } from '../transform/transform-chain.ts';

export interface StreamReports {
  onSnapshot: (progress: SnapshotProgress) => void;
  onIncrementalSnapshot: (progress: IncrementalProgress) => void;
  onNotice: (message: string) => void;
}

export function streamOptionsFor(c: PipelineConfig, transforms: NamedTransform[], reports: StreamReports): ChangeStreamOptions {
  return {
    connection: c.source.url,
    slot: c.source.slot,
    publication: c.source.publication,
    publicationTables: c.source.tables,
    plugin: c.source.plugin,
    temporary: c.source.temporary,
    createSlot: c.source.createSlot,
    sourceName: c.source.name,
    statusIntervalMs: durationMs(c.source.statusInterval),
    deliveredRecord: c.source.deliveredRecord,
    onSlotLost: c.source.onSlotLost,
    failover: c.source.failover,
    ...(c.source.memoryBudget !== undefined ? { memoryBudgetBytes: sizeBytes(c.source.memoryBudget) } : {}),
    ...(c.source.spillDir ? { spillDir: c.source.spillDir } : {}),
    filter: c.filter,
    outbox: c.outbox,
    audit: c.audit,
    heartbeat: c.heartbeat === false ? false : { intervalMs: durationMs(c.heartbeat.interval), prefix: c.heartbeat.prefix },
    onRejected: c.onRejected,
    transforms,
    snapshot: {
      mode: c.snapshot.mode,
      chunkSize: c.snapshot.chunkSize,
      parallelism: c.snapshot.parallelism,
      stateFile: c.snapshot.stateFile ?? defaultSnapshotStateFile(c.source.slot),
      ...(c.snapshot.tables ? { tables: c.snapshot.tables } : {}),
      ...(c.snapshot.keys ? { keys: c.snapshot.keys } : {}),
      onProgress: reports.onSnapshot,
      signals: c.snapshot.signals,
      incrementalChunkSize: c.snapshot.incrementalChunkSize,
      onIncrementalProgress: reports.onIncrementalSnapshot,
    },
    onNotice: reports.onNotice,
  };
}
