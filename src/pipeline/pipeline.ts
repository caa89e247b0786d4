/**
 * A pipeline: one slot streamed into one sink, acknowledged only after the sink
 * confirmed. `createPipeline(config)` is the library entry; `pgcdc run` starts one
 * per configured pipeline.
 *
 *   stream batch → records → sink.write (retried with backoff while it fails)
 *   → dead letters written → batch.confirm() → the slot may move past it
 *
 * While the sink is down the loop waits in the retry, reads nothing more from
 * the stream, and the stream's queue fills and pauses the socket: memory stays
 * bounded and nothing is acknowledged (health: degraded). A lost replication
 * connection restarts the stream from the slot's position after a backoff.
 */
import { EventEmitter } from 'node:events';
import type { SnapshotProgress } from '../snapshot/initial-snapshot.ts';
import type { IncrementalProgress } from '../snapshot/incremental-snapshot.ts';
import { abortableOpen, onAbort, sleep, throwIfAborted } from '../core/abort.ts';
import { CdcError, isCdcError } from '../core/errors.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import { durationMs, type PipelineConfig } from '../config/schema.ts';
import { ChangeStream, type ChangeStreamOptions, type EventBatch } from '../engine/change-stream.ts';
import { createSink } from '../sink/create-sink.ts';
import type { TopicNaming } from '../sink/outbound-record.ts';
import { readyGroups, type PreparedBatch } from './ready-groups.ts';
import { WriteWindow } from './write-window.ts';
import { SlotLease } from './slot-lease.ts';
import { streamOptionsFor } from './stream-options.ts';
import { backoffDelay } from './backoff.ts';
import { resolveConnection } from '../source/connection-config.ts';
import { SinkError, isEncodingSink, releaseWritten, type EncodingSink, type Sink, type SinkResult } from '../sink/sink.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { DeadLetterFile } from './dead-letter-file.ts';
import { prepareBatch } from './prepare-batch.ts';
import { Redeliveries, REDELIVERY } from './redeliveries.ts';
import type { LiveTail } from '../observe/live-tail.ts';
import { StreamMetrics, tallyAccepted, tallyWithout, type RecordTally } from '../observe/metrics.ts';
import { loadTransforms } from '../transform/load-transforms.ts';
import type { NamedTransform } from '../transform/transform-chain.ts';

/** `standby`: waiting for the slot's lease while another instance streams it (slot-lease.ts). */
export type PipelineHealth = 'starting' | 'running' | 'degraded' | 'standby' | 'stopped' | 'failed';

export interface PipelineProgress { name: string; events: number; acknowledgedLsn: string }

export interface PipelineEvents {
  progress: [PipelineProgress];
  retry: [{ name: string; attempt: number; delayMs: number; error: Error }];
  error: [Error];
  notice: [string];
  snapshot: [SnapshotProgress & { name: string }];
  incrementalSnapshot: [IncrementalProgress & { name: string }];
}

export class Pipeline extends EventEmitter<PipelineEvents> implements AsyncDisposable {
  readonly name: string;
  /** The pipeline's configuration, defaults applied (read-only: the console reads its source and slot). */
  readonly config: PipelineConfig;
  private readonly sink: Sink;
  /** The sink, when it encodes batches ahead of writing them (sink.ts, `EncodingSink`). */
  private readonly encoder: EncodingSink | undefined;
  private readonly naming: TopicNaming;
  /** The dead-letter file, when configured (else dead letters are notices). */
  readonly deadLetterFile: DeadLetterFile | undefined;
  private readonly redeliveries = new Redeliveries();
  /** The console's live tail, when a console serves this pipeline. */
  tail: LiveTail | undefined;
  private stream: ChangeStream | undefined;
  /** Aborted by stop() (or the caller's signal): no new reads, retries end their wait. */
  private readonly lifetime = new AbortController();
  private unlinkSignal: () => void = () => undefined;
  private running: Promise<void> | undefined;
  /** Failed attempts to (re)open the stream since the last confirmed group. */
  private reconnects = 0;
  /** One active instance per slot, unless `source.lease: false` (temporary slots are never shared). */
  private readonly lease: SlotLease | undefined;
  /** The configured user transforms, loaded at start. */
  private transforms: NamedTransform[] = [];
  /** Prometheus metrics of this pipeline (available after start). */
  metrics: StreamMetrics | undefined;
  health: PipelineHealth = 'starting';
  events = 0;
  retries = 0;
  deadLetters = 0;

  constructor(config: PipelineConfig) {
    super();
    this.config = config;
    this.name = config.name ?? config.source.slot;
    const { sink, naming } = createSink(config.sink, config.source.name, config.audit === false ? undefined : config.audit.field, config.envelope);
    this.sink = sink;
    this.encoder = isEncodingSink(sink) ? sink : undefined;
    this.naming = naming;
    this.deadLetterFile = config.deadLetter ? new DeadLetterFile(config.deadLetter.path) : undefined;
    this.lease = config.source.lease === false || config.source.temporary ? undefined : new SlotLease({
      target: resolveConnection(config.source.url),
      slot: config.source.slot,
      ttlMs: durationMs(config.source.lease),
      onNotice: (message) => this.emit('notice', `${this.name}: ${message}`),
    });
    if (this.lease) {
      this.lease.onLost = (reason) => {
        this.emit('notice', `${this.name}: ${reason}; no more deliveries until it holds the lease again`);
        // Give the slot up now, not at the next write: on an idle database that
        // write may never come, and the walsender would keep the new holder out.
        this.stream?.requestStop();
      };
    }
  }

  /**
   * Starts the pipeline; resolves once it streams (or rejects with the first,
   * non-retriable error). Aborting `signal` stops it as `stop()` does; aborted
   * before it streams, `start` rejects with PGCDC_ABORTED and closes what it opened.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(options.signal, `pipeline ${this.name}`);
    this.transforms = [];
    for (const [i, t] of this.config.transforms.entries()) {
      if (typeof t === 'string') this.transforms.push(...await loadTransforms([t]));
      else this.transforms.push({ name: t.name || `transforms[${i}]`, transform: t });
    }
    // The sink may take its time to connect (a broker that does not answer): an
    // abort ends the wait, and whatever the sink opened meanwhile is closed.
    await abortableOpen(this.sink.open(), options.signal, `pipeline ${this.name}`, () => this.sink.close());
    try {
      throwIfAborted(options.signal, `pipeline ${this.name}`);
      // Another instance streams this slot: wait for its lease in run(), as a standby.
      const active = this.lease === undefined || await this.lease.tryAcquire();
      if (active) this.stream = await ChangeStream.open(this.streamOptions());
      throwIfAborted(options.signal, `pipeline ${this.name}`);
    } catch (error) {
      await this.stream?.stop();
      await this.lease?.release();
      await this.sink.close();
      throw error;
    }
    this.unlinkSignal = onAbort(options.signal, () => void this.stop());
    this.metrics = new StreamMetrics(this.name, () => this.stream?.stats, () => this.lease?.held ?? true);
    this.health = this.stream === undefined ? 'standby' : 'running';
    this.running = this.run();
    this.running.catch((error: Error) => this.emit('error', error));
  }

  /** Resolves when the pipeline ends (after stop(), or with its fatal error). */
  get done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  get stats() {
    return this.stream?.stats;
  }

  /** The sink's type (kafka, nats, ...): the `sink` label of the metrics. */
  get sinkType(): string {
    return this.config.sink.type;
  }

  get sinkName(): string {
    return this.sink.name;
  }

  get currentStream(): ChangeStream | undefined {
    return this.stream;
  }

  private streamOptions(): ChangeStreamOptions {
    return streamOptionsFor(this.config, this.transforms, {
      onSnapshot: (progress) => this.emit('snapshot', { name: this.name, ...progress }),
      onIncrementalSnapshot: (progress) => this.emit('incrementalSnapshot', { name: this.name, ...progress }),
      onNotice: (message) => this.emit('notice', `${this.name}: ${message}`),
    });
  }

  private async run(): Promise<void> {
    // The stream from start() is open; after any failure it must be reopened
    // before reading again (a stopped stream yields nothing, ever).
    let streamOpen = this.stream !== undefined;
    try {
      while (!this.lifetime.signal.aborted) {
        if (!streamOpen) {
          try {
            if (this.lease !== undefined && !this.lease.held) {
              this.health = 'standby';
              await this.lease.acquire(this.lifetime.signal);
              if (this.lifetime.signal.aborted) break;
              this.emit('notice', `${this.name}: active: holding the lease on slot ${this.config.source.slot} (${this.lease.holder}); streaming slot ${this.config.source.slot} to ${this.sink.name}`);
            }
            this.stream = await ChangeStream.open(this.streamOptions());
            streamOpen = true;
            this.health = 'running';
          } catch (error) {
            await this.reconnectLater(error, ++this.reconnects);
            continue;
          }
        }
        const stream = this.stream!;
        // Writes: one at a time, or for sinks that keep writes in call order
        // (`maxWritesInFlight`), the next group goes out while the current one
        // awaits its confirmation; confirmed strictly in order (write-window.ts).
        const window = new WriteWindow<PreparedBatch[], SinkResult['rejected']>(this.encoder?.maxWritesInFlight ?? 1, {
          write: (group, follows) => this.writeOnce(group, follows),
          deliver: (group, failure) => this.deliver(group, failure),
          confirm: (group, rejected) => this.confirmGroup(group, rejected, stream),
        });
        try {
          // Read-ahead: while the sink confirms group N, group N+1 is read from the
          // stream, and each of its batches is turned into records (the CPU-heavy
          // part: events, envelopes, JSON) as soon as it is read, so that events do
          // not wait. If the loop ends early, the prepared group is simply never
          // confirmed, and is read again from the slot.
          const groups = readyGroups(stream, GROUP_EVENTS, this.prepare)[Symbol.asyncIterator]();
          const nextGroup = () => {
            const next = groups.next().then((result) => (result.done ? undefined : result.value));
            next.catch(() => undefined); // handled where it is awaited; an abandoned one must not crash the process
            return next;
          };
          let upcoming: Promise<PreparedBatch[] | undefined> | undefined = nextGroup();
          for (;;) {
            if (upcoming !== undefined && !this.lifetime.signal.aborted && window.canStart) {
              // Wait for the next group, or, with a write in flight, for whichever comes first; or for a redelivery.
              const next = await Promise.race(window.size === 0 ? [upcoming, this.redeliveries.arrival()] : [upcoming, this.redeliveries.arrival(), window.oldestSettled().then((): typeof SETTLED => SETTLED)]);
              this.redeliveries.endRace();
              if (next === REDELIVERY) { window.start(this.redeliveries.take()!); continue; }
              if (next !== SETTLED) {
                if (next === undefined) { upcoming = undefined; continue; }
                upcoming = nextGroup();
                for (const batch of next) if (batch.deadLetters.length > 0) this.writeDeadLetters(batch.deadLetters);
                window.start(next);
                continue;
              }
            }
            if (window.size === 0) break;
            await window.settleOldest();
          }
          if (this.lifetime.signal.aborted) break;
          // initial_only: the snapshot was the whole job.
          if (this.config.snapshot.mode === 'initial_only') break;
          throw new CdcError('PGCDC_REPLICATION_ENDED', 'the replication stream ended', { retriable: true });
        } catch (error) {
          // Writes still in flight are let finish, unconfirmed, before the sink
          // is used again (or closed); their groups are read again.
          await window.abandon();
          if (this.lifetime.signal.aborted) break;
          // Reconnect: streaming resumes at the slot's confirmed position.
          await stream.stop();
          streamOpen = false;
          await this.reconnectLater(error, ++this.reconnects);
        }
      }
    } finally {
      await this.stream?.stop();
      await this.lease?.release();
      if (this.health !== 'failed') this.health = 'stopped';
      await this.sink.close();
    }
  }

  private readonly prepare = (batch: Pick<EventBatch, 'events' | 'deadLetters' | 'confirm'>): PreparedBatch =>
    prepareBatch(batch, { name: this.name, naming: this.naming, envelope: this.config.envelope, encoder: this.encoder, tail: this.tail });

  /**
   * Sends events again (dead letters an operator retries), in the stream's write
   * order; resolves once the sink confirmed them. A write the sink refuses for
   * good makes new dead letters, as any other.
   */
  redeliver(events: ChangeEvent[]): Promise<void> {
    return new Promise((confirm) => this.redeliveries.add([this.prepare({ events, deadLetters: [], confirm })]));
  }

  /** Waits before the next attempt to (re)open the stream; a non-retriable error ends the pipeline. */
  private async reconnectLater(error: unknown, attempt: number): Promise<void> {
    // A slot lost while streaming, with onSlotLost: resnapshot: the reopened stream recovers it (prepare-source.ts).
    const recoverable = isCdcError(error) && error.code === 'PGCDC_SLOT_LOST' && this.config.source.onSlotLost === 'resnapshot';
    if (!isCdcError(error) || (!error.retriable && !recoverable)) {
      this.health = 'failed';
      throw error;
    }
    this.health = 'degraded';
    const delay = this.backoff(attempt);
    this.emit('retry', { name: this.name, attempt, delayMs: delay, error: error as Error });
    await this.sleep(delay);
  }

  /** A group the sink confirmed: its dead letters written, then each batch's bytes given back (`releaseWritten`) and the batch confirmed, in order. */
  private confirmGroup(group: PreparedBatch[], rejected: SinkResult['rejected'], stream: ChangeStream): void {
    // Refused for good by the destination: dead letters, written before the confirm.
    if (rejected.length > 0) {
      this.writeDeadLetters(rejected.map(({ record, reason }) => ({ event: record.event, reason, stage: `sink ${this.sink.name}` })));
      this.metrics?.deadLettered('sink', rejected.length);
    }
    for (const batch of group) {
      if (batch.encoded !== undefined) releaseWritten([batch.encoded]);
      batch.confirm();
      if (batch.sample !== undefined) this.tail?.publish(this.name, batch.sample);
      if (batch.deadLetters.length > 0) this.metrics?.observeDeadLetters(batch.deadLetters);
      this.events += batch.count;
    }
    this.reconnects = 0;
    this.emit('progress', { name: this.name, events: this.events, acknowledgedLsn: formatLsn(stream.tracker.safeLsn) });
  }

  /**
   * Writes a group until the sink confirms; retriable failures are retried with
   * backoff, for as long as it takes. Returns what the sink refused for good.
   * `failure`: the first attempt already made, and how it failed.
   * Group commit: batches that were already waiting go to the sink in one write
   * (one fsync, one round of acknowledgements) and are confirmed together, in
   * order, afterwards. Nothing waits for more data to arrive.
   */
  private async deliver(group: PreparedBatch[], failure?: unknown): Promise<SinkResult['rejected']> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt === 1 && failure !== undefined) throw failure;
        return await this.writeOnce(group, false);
      } catch (error) {
        // A lost lease is not the sink's failure: back to run(), which waits for the lease again.
        if (!isCdcError(error) || !error.retriable || this.lifetime.signal.aborted || error.code === 'PGCDC_LEASE_LOST') throw error;
        this.health = 'degraded';
        this.retries++;
        this.metrics?.sinkRetry(this.sinkType);
        // A sink may say when to come back (HTTP Retry-After); otherwise exponential backoff.
        const delay = Math.max(this.backoff(attempt), error instanceof SinkError ? error.retryAfterMs ?? 0 : 0);
        this.emit('retry', { name: this.name, attempt, delayMs: delay, error: error as Error });
        await this.sleep(delay);
      }
    }
  }

  /** One write of a group; resolves with what the sink refused for good. */
  private async writeOnce(group: PreparedBatch[], follows: boolean): Promise<SinkResult['rejected']> {
    // Fencing: an instance whose lease ran out (it froze, or lost its connection) writes nothing more.
    this.lease?.assertHeld();
    const started = performance.now();
    let rejected: SinkResult['rejected'];
    let tallies: RecordTally[];
    if (this.encoder !== undefined) {
      await this.encoder.writeEncoded(group.map((b) => b.encoded!), { follows });
      rejected = group.flatMap((b) => b.encoded!.rejected);
      tallies = group.map((b) => tallyWithout(b.tally!, b.encoded!.rejected, b.refusedWhenPrepared));
    } else {
      const records = group.flatMap((b) => b.records!);
      rejected = (await this.sink.write(records))?.rejected ?? [];
      tallies = [tallyAccepted(records, rejected)];
    }
    this.metrics?.observeSinkWrite(this.sinkType, (performance.now() - started) / 1000, tallies);
    if (this.health === 'degraded') this.health = 'running';
    return rejected;
  }

  private writeDeadLetters(deadLetters: DeadLetter[]): void {
    this.deadLetters += deadLetters.length;
    if (this.deadLetterFile === undefined) {
      for (const d of deadLetters) this.emit('notice', `${this.name}: dead letter from ${d.stage}: ${d.reason} (event ${d.event.id})`);
      return;
    }
    this.deadLetterFile.append(deadLetters);
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, durationMs(this.config.retry.initialDelay), durationMs(this.config.retry.maxDelay));
  }

  private sleep(ms: number): Promise<void> {
    return sleep(ms, this.lifetime.signal);
  }

  /**
   * Stops reading, lets the batch in flight finish (delivered and confirmed),
   * sends the final position, closes the sink. Safe to call more than once.
   */
  async stop(): Promise<void> {
    this.unlinkSignal();
    this.lifetime.abort();
    this.stream?.requestStop();
    await this.running?.catch(() => undefined);
    await this.stream?.stop();
    if (this.health !== 'failed') this.health = 'stopped';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** The acknowledged position (for logs and tests). */
  get acknowledgedLsn(): Lsn | undefined {
    return this.stream?.tracker.safeLsn;
  }
}

/** At most this many events per sink write when batches are grouped. */
const GROUP_EVENTS = 5000;

const SETTLED = Symbol('settled');

export function createPipeline(config: PipelineConfig): Pipeline {
  return new Pipeline(config);
}
