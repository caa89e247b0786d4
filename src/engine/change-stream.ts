/**
 * A change stream: one replication slot read as batches of change events.
 *
 *   source (CopyBoth socket) → decode (pgoutput) → assemble (transactions)
 *   → change-queue.ts (waits, in order) → events (Debezium envelope)
 *   → transforms → consumer → confirm → acknowledge (source/feedback.ts)
 *
 * This file is the consumer side: it takes entries from the queue, builds and
 * transforms their events, and registers each batch with the ack tracker in
 * stream order just before handing it out.
 *
 * The consumer iterates batches and calls `batch.confirm()` once it has handled
 * every event in it (written, published and acknowledged by a broker, ...).
 * Only then can the slot's position move past them: see docs/lsn-and-acks.md
 * for the rules, and acknowledge/ack-tracker.ts for where they are kept.
 */
import { abortableOpen, onAbort, throwIfAborted } from '../core/abort.ts';
import { CdcError } from '../core/errors.ts';
import { type Lsn, lsnPlus } from '../core/lsn.ts';
import { PGCDC_VERSION } from '../core/version.ts';
import { AckTracker } from '../acknowledge/ack-tracker.ts';
import { RelationCache } from '../assemble/relation-cache.ts';
import { DEFAULT_MEMORY_BUDGET_BYTES, TransactionAssembler, type CommittedTransaction } from '../assemble/transaction-assembler.ts';
import { DEFAULT_TOAST_PLACEHOLDER } from '../assemble/tuple-to-row.ts';
import type { PgOutputMessage } from '../decode/pgoutput/messages.ts';
import { ValueConverter } from '../decode/values/convert.ts';
import type { TypeRegistry } from '../decode/values/type-registry.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { buildNonTransactionalMessageEvent, type SourceIdentity } from '../events/event-builder.ts';
import { DEFAULT_CHUNK_EVENTS, transactionEventChunks } from './transaction-chunks.ts';
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
import { explainPublicationMissing, prepareSource, type PreparedSource } from './prepare-source.ts';
import { ChangeQueue, DEFAULT_MAX_QUEUED } from './change-queue.ts';
import { StatusFeedback } from '../source/feedback.ts';
import type { SnapshotProgress } from '../snapshot/initial-snapshot.ts';
import { closeSnapshotReaders, initialSnapshotBatches, type PlannedSnapshot } from '../snapshot/initial-snapshot-batches.ts';
import type { IncrementalSnapshot } from '../snapshot/incremental-snapshot.ts';
import type { SnapshotStateFile } from '../snapshot/snapshot-state.ts';
import { incrementalChunkBatches, incrementalSnapshotFor } from './incremental-snapshot-for.ts';
import { SIGNAL_PREFIX, WATERMARK_PREFIX } from '../snapshot/snapshot-signal.ts';
import { DEFAULT_RETAINED_WAL_WARN_BYTES, SlotHealthMonitor } from './slot-health.ts';
import { pluginOptions, PgOutputStreamDecoder, TextStreamDecoder, type StreamDecoder } from './stream-decoders.ts';
import { TextAssembler } from '../assemble/text-assembler.ts';

export type { ChangeStreamOptions, EventBatch, StreamStats } from './change-stream-types.ts';

const SYSTEM_TYPE_OID_LIMIT = 10000;

export class ChangeStream implements AsyncIterable<EventBatch>, AsyncDisposable {
  readonly slot: string;
  readonly publication: string;
  private readonly publicationNames: string[];
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
  private session!: CopyBothSession;
  private feedback!: StatusFeedback;
  private readonly delivered: PreparedSource['delivered'];
  /** What the socket delivered, waiting in order for the consumer. */
  private readonly queue: ChangeQueue;
  private stopping: Promise<void> | undefined;
  private eventsDelivered = 0;
  private transactions = 0;
  /** Aborted by requestStop() (or the caller's signal): reading ends after the batch being handled. */
  private readonly lifetime = new AbortController();
  private unlinkSignal: () => void = () => undefined;
  private snapshot: PlannedSnapshot | undefined;
  /** The initial snapshot's progress file, flushed on stop (it is written at most once a second). */
  private readonly snapshotStateFile: SnapshotStateFile | undefined;
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
    this.publicationNames = init.publicationNames;
    this.startLsn = init.startLsn;
    this.slotCreated = init.slotCreated;
    this.publicationNewerThanSlot = init.publicationNewerThanSlot;
    this.tracker = new AckTracker(init.startLsn);
    this.snapshot = init.snapshot;
    this.snapshotStateFile = init.snapshot?.stateFile;
    this.delivered = init.delivered;
    this.batchSize = init.options.batchSize ?? DEFAULT_CHUNK_EVENTS;
    this.transforms = composeTransforms(buildTransforms(init.options));
    this.slotHealth = new SlotHealthMonitor(init.sql, init.slot, {
      intervalMs: init.options.slotHealthIntervalMs ?? 30_000,
      warnBytes: init.options.retainedWalWarnBytes ?? DEFAULT_RETAINED_WAL_WARN_BYTES,
      warn: (message) => init.options.onNotice?.(message),
      ...((init.options.plugin ?? 'pgoutput') === 'pgoutput' ? { publication: init.publication } : {}),
    });
    const heartbeat = init.options.heartbeat;
    this.heartbeat = heartbeat === false ? undefined : new Heartbeat(init.sql, heartbeat ?? {}, (error) => init.options.onNotice?.(`heartbeat failed: ${error.message}`));
    this.heartbeatPrefix = this.heartbeat?.prefix;
    this.deliverHeartbeats = heartbeat !== false && (heartbeat?.deliver ?? false);
    this.identity = { version: PGCDC_VERSION, name: init.options.sourceName ?? 'pgcdc', db: init.server.database };
    const converter = this.converter = new ValueConverter(this.registry);
    const relations = this.relations = new RelationCache(converter, () => this.registry.version, (relid) => this.primaryKeys.get(relid));
    const budget = {
      toastPlaceholder: init.options.toastPlaceholder ?? DEFAULT_TOAST_PLACEHOLDER,
      memoryBudgetBytes: init.options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES,
      ...(init.options.spillDir ? { spillDir: init.options.spillDir } : {}),
    };
    this.incremental = incrementalSnapshotFor(init, this.identity, converter);
    const plugin = init.options.plugin ?? 'pgoutput';
    this.decoder = plugin === 'pgoutput'
      ? new PgOutputStreamDecoder(new TransactionAssembler({ relations, ...budget, onSchemaMessage: (message) => this.onSchemaMessage(message) }))
      : new TextStreamDecoder(plugin, new TextAssembler({ converter, ...budget }));
    this.queue = new ChangeQueue({
      decoder: this.decoder,
      maxQueued: init.options.maxQueuedEvents ?? DEFAULT_MAX_QUEUED,
      acknowledgeKeepalives: init.options.acknowledgeKeepalives !== false,
      untilLsn: init.options.untilLsn,
      onReplyRequested: () => this.feedback.sendNow(),
    });
  }

  /** Connects, checks the server, ensures slot and publication, and starts streaming. */
  static async open(options: ChangeStreamOptions = {}): Promise<ChangeStream> {
    throwIfAborted(options.signal, 'the change stream');
    const prepared = await abortableOpen(prepareSource(options), options.signal, 'the change stream',
      (late) => Promise.all([late.replication.close(), late.sql.close(), late.snapshot && closeSnapshotReaders(late.snapshot.readers)]));
    try {
      throwIfAborted(options.signal, 'the change stream');
      const stream = new ChangeStream({ options, ...prepared });
      stream.start();
      stream.unlinkSignal = onAbort(options.signal, () => {
        stream.requestStop();
        void stream.stop();
      });
      return stream;
    } catch (error) {
      await prepared.replication.close();
      await prepared.sql.close();
      if (prepared.snapshot) await closeSnapshotReaders(prepared.snapshot.readers);
      throw error;
    }
  }

  private start(): void {
    const options = pluginOptions(this.options.plugin ?? 'pgoutput', this.server.protocolVersion, this.publicationNames, this.options.streaming !== false);
    const queue = this.queue;
    this.session = this.replication.startReplication(this.slot, this.startLsn, options, {
      onXLogData: (header, buffer, start, end) => queue.onXLogData(header, buffer, start, end),
      onKeepalive: (keepalive) => queue.onKeepalive(keepalive),
      onChunkEnd: () => queue.onChunkEnd(),
      onEnd: (error) => queue.end(this.publicationNewerThanSlot ? explainPublicationMissing(error, this.publication, this.slot, this.startLsn) : error),
    });
    queue.flow = this.session;
    this.feedback = new StatusFeedback((flushed) => { this.session.sendStatus(flushed); this.delivered?.record(flushed, this.eventsDelivered, this.tracker.inFlight === 0); }, () => this.tracker.safeLsn, this.options.statusIntervalMs ?? 10_000);
    this.feedback.start();
    this.heartbeat?.start();
    this.slotHealth.start();
    this.incremental?.start();
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
    this.queue.holdWhile(refresh, (error) => this.options.onNotice?.(`could not read the catalog (${error.message}); values keep their text form and keys come from the replica identity`));
  }

  // ---- consumer side --------------------------------------------------------------------------

  async *[Symbol.asyncIterator](): AsyncIterator<EventBatch> {
    // The snapshot comes first. Meanwhile the stream's changes (all after the
    // snapshot's position) wait in the queue, and past its limit in the server.
    if (this.snapshot !== undefined) {
      try {
        yield* initialSnapshotBatches(this.snapshot, {
          identity: this.identity,
          converter: this.converter,
          transforms: this.transforms,
          makeBatch: (events, deadLetters, onConfirmed) => this.makeBatch(events, deadLetters, undefined, onConfirmed),
          onProgress: (progress) => {
            this.snapshotProgress = progress;
            this.options.snapshot?.onProgress?.(progress);
          },
          onNotice: (message) => this.options.onNotice?.(message),
          stopRequested: () => this.lifetime.signal.aborted,
        });
      } finally {
        this.snapshot = undefined;
      }
      if (this.lifetime.signal.aborted) return;
    }
    if (this.options.snapshot?.mode === 'initial_only') return;
    for (;;) {
      if (this.lifetime.signal.aborted) return;
      const entry = this.queue.take();
      if (entry === undefined) {
        await this.queue.waitForMore();
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
          this.queue.release(1);
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
            yield* incrementalChunkBatches(chunk, ackLsn, this.transforms, (events, deadLetters, endLsn, onConfirmed) => this.makeBatch(events, deadLetters, endLsn, onConfirmed));
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

  private async *transactionBatches(transaction: CommittedTransaction): AsyncGenerator<EventBatch> {
    const queued = transaction.buffer.count;
    let consumed = 0;
    try {
      const incremental = this.incremental;
      const observe = incremental?.active ? (xid: number | undefined, events: readonly ChangeEvent[]) => incremental.observe(xid, events) : undefined;
      for await (const chunk of transactionEventChunks(transaction, this.identity, this.batchSize, this.transforms, observe)) {
        consumed += chunk.items;
        this.queue.release(chunk.items);
        // Only the last batch carries the transaction's end LSN: confirming it (after
        // all before it) makes the whole transaction acknowledgeable.
        const batch = this.makeBatch(chunk.events, chunk.deadLetters, chunk.last ? transaction.endLsn : undefined);
        if (batch) yield batch;
        if (this.lifetime.signal.aborted && !chunk.last) return;
      }
    } finally {
      this.queue.release(queued - consumed); // items of aborted subtransactions, or an abandoned iteration
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
    this.queue.endAt(lsn);
  }

  /**
   * Ends the iteration after the batch being handled (Ctrl-C, --max-events):
   * reading stops, and the loop over batches finishes. Call `stop()` after the
   * loop to send the final position and disconnect.
   */
  requestStop(): void {
    if (this.lifetime.signal.aborted) return;
    this.lifetime.abort();
    this.session.pause();
    this.queue.wakeConsumer();
  }

  /** Sends the current safe position now (normally sent every statusIntervalMs). */
  acknowledgeNow(): void {
    this.feedback.sendNow();
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
      queuedEvents: this.queue.queuedItems,
      memoryUsed: this.decoder.memoryUsed,
      memoryPeak: this.decoder.memoryPeak,
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
      this.unlinkSignal();
      await this.heartbeat?.stop();
      await this.slotHealth.stop();
      await this.incremental?.close();
      this.feedback.stop();
      await this.replication.close();
      this.decoder.reset();
      this.queue.close();
      await this.sql.close();
      if (this.snapshot) await closeSnapshotReaders(this.snapshot.readers);
      this.snapshotStateFile?.flush();
    })();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
