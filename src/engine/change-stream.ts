/**
 * A change stream: one replication slot read as batches of change events.
 *
 *   source (CopyBoth socket) → decode (pgoutput) → assemble (transactions)
 *   → events (Debezium envelope) → filter → consumer → confirm → acknowledge
 *
 * The consumer iterates batches and calls `batch.confirm()` once it has handled
 * every event in it (written, published and acknowledged by a broker, ...).
 * Only then can the slot's position move past them: see docs/lsn-and-acks.md
 * for the rules, and acknowledge/ack-tracker.ts for where they are kept.
 */
import { CdcError } from '../core/errors.ts';
import { formatLsn, type Lsn, lsnPlus } from '../core/lsn.ts';
import { PGCDC_VERSION } from '../core/version.ts';
import { AckTracker } from '../acknowledge/ack-tracker.ts';
import { RelationCache } from '../assemble/relation-cache.ts';
import { TransactionAssembler, type AssemblerOutput, type CommittedTransaction } from '../assemble/transaction-assembler.ts';
import { DEFAULT_TOAST_PLACEHOLDER } from '../assemble/tuple-to-row.ts';
import type { PgOutputMessage } from '../decode/pgoutput/messages.ts';
import type { PrimaryKeepalive, XLogDataHeader } from '../decode/copy-both.ts';
import { ValueConverter } from '../decode/values/convert.ts';
import type { TypeRegistry } from '../decode/values/type-registry.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { buildNonTransactionalMessageEvent, type SourceIdentity } from '../events/event-builder.ts';
import { transactionEventChunks } from './transaction-chunks.ts';
import { composeTransforms, type TransformChain } from '../transform/transform-chain.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { CopyBothSession } from '../source/copy-both-session.ts';
import type { ReplicationConnection } from '../source/replication-connection.ts';
import type { ServerInfo } from '../source/server-checks.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { loadPrimaryKeys, loadTypes } from '../source/type-catalog.ts';
import { buildTransforms } from './build-transforms.ts';
import type { ChangeStreamOptions, EventBatch, StreamStats } from './change-stream-types.ts';
import { Heartbeat } from './heartbeat.ts';
import { prepareSource, type PlannedSnapshot, type PreparedSource } from './prepare-source.ts';
import { readSnapshotChunks, type SnapshotProgress } from '../snapshot/initial-snapshot.ts';
import { IncrementalSnapshot, SIGNAL_PREFIX, WATERMARK_PREFIX, type IncrementalState } from '../snapshot/incremental-snapshot.ts';
import { incrementalStateFileFor, SnapshotStateFile } from '../snapshot/snapshot-state.ts';
import { SlotHealthMonitor } from './slot-health.ts';
import { pluginOptions, PgOutputStreamDecoder, TextStreamDecoder, type StreamDecoder } from './stream-decoders.ts';
import { TextAssembler } from '../assemble/text-assembler.ts';

export type { ChangeStreamOptions, EventBatch, StreamStats } from './change-stream-types.ts';

type QueueEntry =
  | AssemblerOutput
  | { kind: 'position'; lsn: Lsn }
  | { kind: 'end'; error: CdcError | undefined };

const SYSTEM_TYPE_OID_LIMIT = 10000;

export class ChangeStream implements AsyncIterable<EventBatch>, AsyncDisposable {
  readonly slot: string;
  readonly publication: string;
  readonly server: ServerInfo;
  readonly startLsn: Lsn;
  readonly slotCreated: boolean;
  private readonly publicationNewerThanSlot: boolean;
  readonly tracker: AckTracker;

  private readonly options: ChangeStreamOptions;
  private readonly replication: ReplicationConnection;
  private readonly sql: SqlConnection;
  private readonly registry: TypeRegistry;
  private readonly primaryKeys: Map<number, string[]>;
  private readonly relations: RelationCache;
  private readonly decoder: StreamDecoder;
  private readonly identity: SourceIdentity;
  private readonly transforms: TransformChain;
  private readonly slotHealth: SlotHealthMonitor;
  private readonly heartbeat: Heartbeat | undefined;
  private readonly heartbeatPrefix: string | undefined;
  private readonly deliverHeartbeats: boolean;
  private readonly batchSize: number;
  private readonly maxQueued: number;
  private session!: CopyBothSession;
  private readonly queue: QueueEntry[] = [];
  private queuedItems = 0;
  private wake: (() => void) | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private ended = false;
  private stopping: Promise<void> | undefined;
  /** Frames held while the type registry refreshes (a Type message named an unknown type). */
  private held: Array<{ header: XLogDataHeader; payload: Buffer } | { keepalive: PrimaryKeepalive }> | undefined;
  private eventsDelivered = 0;
  private transactions = 0;
  private stopRequested = false;
  private untilLsn: Lsn | undefined;
  private snapshot: PlannedSnapshot | undefined;
  private snapshotProgress: SnapshotProgress | undefined;
  private readonly converter: ValueConverter;
  /** Incremental snapshots on signals (undefined when signals are off). */
  private readonly incremental: IncrementalSnapshot | undefined;

  private constructor(init: PreparedSource & { options: ChangeStreamOptions }) {
    this.options = init.options;
    this.replication = init.replication;
    this.sql = init.sql;
    this.registry = init.registry;
    this.primaryKeys = init.primaryKeys;
    this.server = init.server;
    this.slot = init.slot;
    this.publication = init.publication;
    this.startLsn = init.startLsn;
    this.slotCreated = init.slotCreated;
    this.publicationNewerThanSlot = init.publicationNewerThanSlot;
    this.tracker = new AckTracker(init.startLsn);
    this.untilLsn = init.options.untilLsn;
    this.snapshot = init.snapshot;
    this.batchSize = init.options.batchSize ?? 1000;
    this.maxQueued = init.options.maxQueuedEvents ?? 10_000;
    this.transforms = composeTransforms(buildTransforms(init.options));
    this.slotHealth = new SlotHealthMonitor(init.sql, init.slot, {
      intervalMs: init.options.slotHealthIntervalMs ?? 30_000,
      warnBytes: init.options.retainedWalWarnBytes ?? 1024 ** 3,
      warn: (message) => init.options.onNotice?.(message),
    });
    const heartbeat = init.options.heartbeat;
    if (heartbeat !== false) {
      this.heartbeat = new Heartbeat(init.sql, heartbeat ?? {}, (error) => init.options.onNotice?.(`heartbeat failed: ${error.message}`));
      this.heartbeatPrefix = this.heartbeat.prefix;
      this.deliverHeartbeats = heartbeat?.deliver ?? false;
    } else {
      this.heartbeatPrefix = undefined;
      this.deliverHeartbeats = false;
    }
    this.identity = { version: PGCDC_VERSION, name: init.options.sourceName ?? 'pgcdc', db: init.server.database };
    const converter = this.converter = new ValueConverter(this.registry);
    const relations = this.relations = new RelationCache(converter, () => this.registry.version, (relid) => this.primaryKeys.get(relid));
    const budget = {
      toastPlaceholder: init.options.toastPlaceholder ?? DEFAULT_TOAST_PLACEHOLDER,
      memoryBudgetBytes: init.options.memoryBudgetBytes ?? 64 * 1024 * 1024,
      ...(init.options.spillDir ? { spillDir: init.options.spillDir } : {}),
    };
    const snapshotOptions = init.options.snapshot;
    if (snapshotOptions?.signals !== false) {
      this.incremental = new IncrementalSnapshot({
        slot: init.slot,
        publication: init.publication,
        serverVersionNum: init.server.versionNum,
        chunkSize: snapshotOptions?.incrementalChunkSize ?? 1024,
        ...(snapshotOptions?.keys ? { keys: snapshotOptions.keys } : {}),
        identity: this.identity,
        converter,
        openSql: init.openSql,
        emitMessage: async (prefix, content) => { await init.sql.query('SELECT pg_logical_emit_message(false, $1, $2)', [prefix, content]); },
        stateFile: snapshotOptions?.stateFile ? new SnapshotStateFile<IncrementalState>(incrementalStateFileFor(snapshotOptions.stateFile)) : undefined,
        onNotice: (message) => init.options.onNotice?.(message),
        ...(snapshotOptions?.onIncrementalProgress ? { onProgress: snapshotOptions.onIncrementalProgress } : {}),
      });
    }
    const plugin = init.options.plugin ?? 'pgoutput';
    this.decoder = plugin === 'pgoutput'
      ? new PgOutputStreamDecoder(new TransactionAssembler({ relations, ...budget, onSchemaMessage: (message) => this.onSchemaMessage(message) }))
      : new TextStreamDecoder(plugin, new TextAssembler({ converter, ...budget }));
  }

  /** Connects, checks the server, ensures slot and publication, and starts streaming. */
  static async open(options: ChangeStreamOptions = {}): Promise<ChangeStream> {
    const prepared = await prepareSource(options);
    try {
      const stream = new ChangeStream({ options, ...prepared });
      stream.start();
      return stream;
    } catch (error) {
      await prepared.replication.close();
      await prepared.sql.close();
      throw error;
    }
  }

  private start(): void {
    const options = pluginOptions(this.options.plugin ?? 'pgoutput', this.server.protocolVersion, this.publication, this.options.streaming !== false);
    this.session = this.replication.startReplication(this.slot, this.startLsn, options, {
      onXLogData: (header, buffer, start, end) => this.onXLogData(header, buffer, start, end),
      onKeepalive: (keepalive) => this.onKeepalive(keepalive),
      onChunkEnd: () => this.onChunkEnd(),
      onEnd: (error) => this.push({ kind: 'end', error: this.explain(error) }),
    });
    // Periodic, not per-event, acknowledgements: a status update per message costs
    // the walsender about 3× (see docs/benchmarks.md).
    const interval = this.options.statusIntervalMs ?? 10_000;
    this.statusTimer = setInterval(() => this.session.sendStatus(this.tracker.safeLsn), interval);
    this.statusTimer.unref();
    this.heartbeat?.start();
    this.slotHealth.start();
    this.incremental?.start();
  }

  /**
   * pgoutput reads the publication as it was at each change's position, so a
   * publication created after the slot's position "does not exist" for the changes
   * in between, although it exists now. Say so, rather than "create it".
   */
  private explain(error: CdcError | undefined): CdcError | undefined {
    if (error?.code !== 'PGCDC_PUBLICATION_MISSING' || !this.publicationNewerThanSlot) return error;
    return new CdcError('PGCDC_PUBLICATION_MISSING', `publication "${this.publication}" was created after slot "${this.slot}"'s position (${formatLsn(this.startLsn)}); pgoutput cannot read changes from before it with that publication: use a publication that existed then, or create a new slot (the old position's changes are then skipped)`, { cause: error });
  }

  // ---- source side (synchronous, per socket read) -------------------------------------------

  private onXLogData(header: XLogDataHeader, buffer: Buffer, start: number, end: number): void {
    if (this.held !== undefined) {
      this.held.push({ header, payload: Buffer.from(buffer.subarray(start, end)) });
      return;
    }
    const output = this.decoder.push(buffer, start, end, header.walStart);
    if (output !== undefined) this.acceptOutput(output);
  }

  private acceptOutput(output: AssemblerOutput): void {
    const until = this.untilLsn;
    if (until !== undefined) {
      const position = output.kind === 'transaction' ? output.transaction.commitLsn : output.lsn;
      if (position !== undefined && position > until) {
        if (output.kind === 'transaction') output.transaction.buffer.dispose();
        this.reachedEnd();
        return;
      }
    }
    this.push(output);
  }

  private onKeepalive(keepalive: PrimaryKeepalive): void {
    if (this.held !== undefined) {
      this.held.push({ keepalive });
      return;
    }
    // A keepalive's walEnd is safe to acknowledge only when no transaction is half
    // received; it is queued behind everything already received (docs/lsn-and-acks.md).
    if (!this.decoder.inTransaction && this.options.acknowledgeKeepalives !== false) {
      this.push({ kind: 'position', lsn: keepalive.walEnd });
    }
    const until = this.untilLsn;
    if (until !== undefined && keepalive.walEnd >= until && !this.decoder.inTransaction) this.reachedEnd();
    if (keepalive.replyRequested) this.session.sendStatus(this.tracker.safeLsn);
  }

  private onChunkEnd(): void {
    if (this.queuedItems >= this.maxQueued) this.session.pause();
  }

  private reachedEnd(): void {
    if (this.ended) return;
    this.push({ kind: 'end', error: undefined });
    this.session.pause();
  }

  /**
   * Relation and Type messages may name things created after we read the
   * catalog: a new type (enum, composite, ...) or a new REPLICA IDENTITY FULL
   * table whose primary key we need. Then the stream is held, in order, while
   * the catalog is read, so no later row is converted with missing knowledge.
   */
  private onSchemaMessage(message: PgOutputMessage): void {
    let refresh: (() => Promise<unknown>) | undefined;
    if (message.tag === 'type' && message.typeOid >= SYSTEM_TYPE_OID_LIMIT && !this.registry.has(message.typeOid)) {
      refresh = () => loadTypes(this.sql, this.registry, [message.typeOid]);
    } else if (message.tag === 'relation' && message.replicaIdentity === 'f' && !this.primaryKeys.has(message.relationOid)) {
      refresh = () => loadPrimaryKeys(this.sql, this.primaryKeys, [message.relationOid]).then(() => this.relations.set(message));
    }
    if (refresh === undefined) return;
    this.held = [];
    this.session.pause();
    refresh()
      .catch((error) => this.options.onNotice?.(`could not read the catalog (${(error as Error).message}); values keep their text form and keys come from the replica identity`))
      .finally(() => this.releaseHeld());
  }

  private releaseHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    try {
      for (let i = 0; i < held.length; i++) {
        const frame = held[i]!;
        if ('keepalive' in frame) this.onKeepalive(frame.keepalive);
        else this.onXLogData(frame.header, frame.payload, 0, frame.payload.length);
        if (this.held !== undefined) {
          // Another unknown type: keep the rest for the next release, in order.
          (this.held as typeof held).push(...held.slice(i + 1));
          return;
        }
      }
    } catch (error) {
      this.push({ kind: 'end', error: error instanceof CdcError ? error : new CdcError('PGCDC_PROTOCOL', String(error)) });
      return;
    }
    if (this.queuedItems < this.maxQueued) this.session.resume();
  }

  private push(entry: QueueEntry): void {
    if (this.ended) {
      if (entry.kind === 'transaction') entry.transaction.buffer.dispose();
      return;
    }
    if (entry.kind === 'end') this.ended = true;
    this.queue.push(entry);
    if (entry.kind === 'transaction') this.queuedItems += entry.transaction.buffer.count;
    else if (entry.kind === 'message') this.queuedItems += 1;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  // ---- consumer side --------------------------------------------------------------------------

  async *[Symbol.asyncIterator](): AsyncIterator<EventBatch> {
    // The snapshot comes first. Meanwhile the stream's changes (all after the
    // snapshot's position) wait in the queue, and past its limit in the server.
    if (this.snapshot !== undefined) {
      yield* this.snapshotBatches(this.snapshot);
      if (this.stopRequested) return;
    }
    if (this.options.snapshot?.mode === 'initial_only') return;
    for (;;) {
      if (this.stopRequested) return;
      const entry = this.queue.shift();
      if (entry === undefined) {
        if (this.session.paused && !this.ended && this.held === undefined) this.session.resume();
        await new Promise<void>((resolve) => { this.wake = resolve; });
        continue;
      }
      switch (entry.kind) {
        case 'end':
          if (entry.error) throw entry.error;
          return;
        case 'position':
          this.tracker.registerIdlePosition(entry.lsn);
          continue;
        case 'message': {
          this.queuedItems -= 1;
          // Acknowledging a message's own LSN would replay it after a restart
          // (decoding resumes at records >= the confirmed position): ack one past it.
          const ackLsn = entry.lsn === undefined ? undefined : lsnPlus(entry.lsn, 1);
          const prefix = entry.item.message!.prefix;
          if ((prefix === SIGNAL_PREFIX || prefix === WATERMARK_PREFIX) && entry.lsn !== undefined) {
            // pgcdc's own control messages (any slot's): never delivered as events.
            const chunk = this.incremental === undefined ? undefined
              : prefix === SIGNAL_PREFIX ? void this.incremental.onSignal(entry.item.message!.content, entry.lsn)
              : this.incremental.onWatermark(entry.item.message!.content, entry.lsn);
            if (chunk === undefined) {
              this.tracker.register(ackLsn).confirm();
              continue;
            }
            // A chunk's rows, at its high watermark: acknowledged like the events around them.
            const result = this.transforms(chunk.events, undefined);
            const batch = this.makeBatch(result.events, result.deadLetters, ackLsn, chunk.onConfirmed);
            if (batch) yield batch;
            continue;
          }
          if (prefix === this.heartbeatPrefix && !this.deliverHeartbeats) {
            // Our own heartbeat: its only job is to move the slot.
            this.tracker.register(ackLsn).confirm();
            continue;
          }
          const event = buildNonTransactionalMessageEvent(entry.item, this.identity, Date.now());
          const result = this.transforms([event], undefined);
          const batch = this.makeBatch(result.events, result.deadLetters, ackLsn);
          if (batch) yield batch;
          continue;
        }
        case 'transaction':
          yield* this.transactionBatches(entry.transaction);
          continue;
      }
    }
  }

  private async *snapshotBatches(plan: PlannedSnapshot): AsyncGenerator<EventBatch> {
    const state = plan.state;
    const tablesDone = () => plan.tables.filter((t) => state.tables[`${t.schema}.${t.table}`]?.done).length;
    const totalRows = () => Object.values(state.tables).reduce((n, t) => n + t.rows, 0);
    const report = (table: string, estimatedRows: number) => {
      this.snapshotProgress = { table, rows: state.tables[table]?.rows ?? 0, estimatedRows, tablesDone: tablesDone(), tables: plan.tables.length, done: state.done };
      this.options.snapshot?.onProgress?.(this.snapshotProgress);
      if (state.done) this.options.onNotice?.(`initial snapshot done: ${totalRows()} rows from ${plan.tables.length} table(s)`);
    };
    let chunks = 0;
    try {
      for await (const chunk of readSnapshotChunks({
        sql: plan.sql, tables: plan.tables, state, chunkSize: plan.chunkSize, lsn: plan.lsn,
        identity: this.identity, converter: this.converter, kind: 'initial',
      })) {
        chunks++;
        const name = `${chunk.table.schema}.${chunk.table.table}`;
        const rows = chunk.events.length;
        const result = this.transforms(chunk.events, undefined);
        // Progress is saved only once the chunk's events are confirmed (delivered):
        // a crash before that reads the chunk again. Confirms come in order, so the
        // last chunk's confirm is the one that finds every table done.
        const confirmed = () => {
          const progress = state.tables[name] ??= { rows: 0, done: false };
          progress.after = chunk.lastKey;
          progress.rows += rows;
          progress.done = chunk.tableDone;
          state.done = tablesDone() === plan.tables.length;
          plan.stateFile?.write(state);
          report(name, chunk.table.estimatedRows);
        };
        const batch = this.makeBatch(result.events, result.deadLetters, undefined, confirmed);
        if (batch) yield batch;
        if (this.stopRequested) return;
      }
      if (chunks === 0) {
        // Nothing to read (empty tables, or everything was already confirmed).
        for (const t of plan.tables) (state.tables[`${t.schema}.${t.table}`] ??= { rows: 0, done: true }).done = true;
        state.done = true;
        plan.stateFile?.write(state);
        report('', 0);
      }
    } finally {
      this.snapshot = undefined;
      await plan.sql.query('COMMIT').catch(() => undefined);
      await plan.sql.close();
    }
  }

  private async *transactionBatches(transaction: CommittedTransaction): AsyncGenerator<EventBatch> {
    const queued = transaction.buffer.count;
    let consumed = 0;
    try {
      const incremental = this.incremental;
      const observe = incremental?.active ? (xid: number | undefined, events: readonly ChangeEvent[]) => incremental.observe(xid, events) : undefined;
      for await (const chunk of transactionEventChunks(transaction, this.identity, this.batchSize, this.transforms, observe)) {
        consumed += chunk.items;
        this.queuedItems -= chunk.items;
        // Only the last batch carries the transaction's end LSN: confirming it (after
        // all before it) makes the whole transaction acknowledgeable.
        const batch = this.makeBatch(chunk.events, chunk.deadLetters, chunk.last ? transaction.endLsn : undefined);
        if (batch) yield batch;
        if (this.stopRequested && !chunk.last) return;
      }
    } finally {
      this.queuedItems -= queued - consumed; // items of aborted subtransactions, or an abandoned iteration
      transaction.buffer.dispose();
    }
    this.transactions++;
  }

  /**
   * Registers the next batch with the ack tracker, in stream order, just before
   * it is handed out. An empty batch (all filtered out) is confirmed at once and
   * not handed out, so filtered transactions still let the position advance.
   */
  private makeBatch(events: ChangeEvent[], deadLetters: DeadLetter[], endLsn: Lsn | undefined, onConfirmed?: () => void): EventBatch | undefined {
    if (deadLetters.length > 0 && this.options.onRejected === 'stop') {
      // Not registered, never confirmed: the slot stays before this batch.
      const first = deadLetters[0]!;
      throw new CdcError('PGCDC_REJECTED_EVENT', `event ${first.event.id} rejected by ${first.stage}: ${first.reason}; fix the producer, or let rejected events go to the dead-letter destination`);
    }
    const ticket = this.tracker.register(endLsn);
    const confirm = onConfirmed === undefined ? ticket.confirm : () => { ticket.confirm(); onConfirmed(); };
    if (events.length === 0 && deadLetters.length === 0) {
      confirm();
      return undefined;
    }
    this.eventsDelivered += events.length;
    return { events, deadLetters, endLsn, confirm };
  }

  /**
   * Ends the stream once everything up to `lsn` has been handed out (like
   * pg_recvlogical -E): transactions committing after it are not delivered.
   */
  endAt(lsn: Lsn): void {
    this.untilLsn = lsn;
  }

  /**
   * Ends the iteration after the batch being handled (Ctrl-C, --max-events):
   * reading stops, and the loop over batches finishes. Call `stop()` after the
   * loop to send the final position and disconnect.
   */
  requestStop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.session.pause();
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Sends the current safe position now (normally sent every statusIntervalMs). */
  acknowledgeNow(): void {
    this.session.sendStatus(this.tracker.safeLsn);
  }

  get stats(): StreamStats {
    return {
      slot: this.slot,
      startLsn: this.startLsn,
      safeLsn: this.tracker.safeLsn,
      lastReceivedLsn: this.session.lastReceived,
      bytesReceived: this.session.bytesReceived,
      eventsDelivered: this.eventsDelivered,
      transactions: this.transactions,
      queuedEvents: this.queuedItems,
      memoryUsed: this.decoder.memoryUsed,
      retainedWalBytes: this.slotHealth.retainedWalBytes,
      walStatus: this.slotHealth.walStatus,
      heartbeatsSent: this.heartbeat?.sent ?? 0,
      snapshot: this.snapshotProgress,
      incrementalSnapshot: this.incremental?.progress,
    };
  }

  /**
   * Stops streaming: no more reads; the safe position is sent to the server and
   * the connection closed. Events handed out but not confirmed stay
   * unacknowledged and are sent again next time.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (this.statusTimer) clearInterval(this.statusTimer);
      await this.heartbeat?.stop();
      await this.slotHealth.stop();
      await this.incremental?.close();
      this.session.sendStatus(this.tracker.safeLsn);
      await this.replication.close();
      this.decoder.reset();
      for (const entry of this.queue) if (entry.kind === 'transaction') entry.transaction.buffer.dispose();
      this.queue.length = 0;
      if (!this.ended) this.push({ kind: 'end', error: undefined });
      await this.sql.close();
      await this.snapshot?.sql.close();
    })();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
