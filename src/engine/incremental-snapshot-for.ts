/** A change stream's incremental snapshots, from its options (undefined when signals are off). */
import type { ValueConverter } from '../decode/values/convert.ts';
import type { SourceIdentity } from '../events/event-builder.ts';
import { IncrementalSnapshot, type IncrementalState } from '../snapshot/incremental-snapshot.ts';
import { incrementalStateFileFor, SnapshotStateFile } from '../snapshot/snapshot-state.ts';
import type { ChangeStreamOptions } from './change-stream-types.ts';
import type { PreparedSource } from './prepare-source.ts';

export function incrementalSnapshotFor(init: PreparedSource & { options: ChangeStreamOptions }, identity: SourceIdentity, converter: ValueConverter): IncrementalSnapshot | undefined {
  const snapshotOptions = init.options.snapshot;
  if (snapshotOptions?.signals === false) return undefined;
  return new IncrementalSnapshot({
    slot: init.slot,
    publication: init.publication,
    serverVersionNum: init.server.versionNum,
    chunkSize: snapshotOptions?.incrementalChunkSize ?? 1024,
    ...(snapshotOptions?.keys ? { keys: snapshotOptions.keys } : {}),
    identity,
    converter,
    openSql: init.openSql,
    // Watermarks are non-transactional messages: written at once, whatever the session does.
    emitMessage: async (prefix, content) => { await init.sql.query('SELECT pg_logical_emit_message(false, $1, $2)', [prefix, content]); },
    stateFile: snapshotOptions?.stateFile ? new SnapshotStateFile<IncrementalState>(incrementalStateFileFor(snapshotOptions.stateFile)) : undefined,
    onNotice: (message) => init.options.onNotice?.(message),
    ...(snapshotOptions?.onIncrementalProgress ? { onProgress: snapshotOptions.onIncrementalProgress } : {}),
  });
}
