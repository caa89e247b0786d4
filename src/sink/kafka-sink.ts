/**
 * Kafka, through @confluentinc/kafka-javascript (librdkafka): an idempotent
 * producer with acks=all, so a broker-side retry never duplicates or reorders a
 * partition, and `write` resolves only when every record of the batch has its
 * delivery report. Topics follow Debezium (`{prefix}.{schema}.{table}`), the key
 * is the row's primary key as JSON and the default partitioner is murmur2, as in
 * Kafka's Java client: the same key lands on the same partition as with Debezium,
 * which keeps per-key order. Outbox records bring their own topic, key and
 * headers (`message_id`).
 *
 * The client is an optional peer dependency (a native addon, kafka-client.ts): it
 * is loaded only when a pipeline has a Kafka sink, and its absence is one clear error.
 */
import { connect as tcpConnect } from 'node:net';
import type { OutboundRecord } from './outbound-record.ts';
import { withTimeout } from '../core/timeout.ts';
import { releaseWritten, SinkError, type EncodedBatch, type EncodingSink, type SinkResult } from './sink.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { giveBack } from '../core/buffer-pool.ts';
import { loadKafkaClient, type KafkaHeaders, type LibrdKafkaError, type RdKafkaConfig, type RdKafkaProducer } from './kafka-client.ts';

export interface KafkaSinkOptions {
  brokers: string[];
  clientId: string;
  /** Delivery timeout: a batch not fully acknowledged by then fails (and is retried). */
  timeoutMs: number;
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  ssl: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** Largest record value accepted; larger ones go to the dead-letter destination. */
  maxMessageBytes: number;
  /** librdkafka properties passed through (`linger.ms`, `batch.num.messages`, ...). */
  librdkafka: Record<string, string | number | boolean>;
}

/** A batch's values, encoded; message i is `bytes[ends[i - 1], ends[i])` with its topic, key and headers. */
export interface KafkaBatch extends EncodedBatch {
  readonly ends: Uint32Array;
  readonly topics: readonly string[];
  readonly keys: ReadonlyArray<string | null>;
  readonly headers: ReadonlyArray<KafkaHeaders | undefined>;
}

const EMPTY = Buffer.alloc(0);

export class KafkaSink implements EncodingSink<KafkaBatch> {
  readonly name: string;
  private readonly options: KafkaSinkOptions;
  private producer: RdKafkaProducer | undefined;
  /** The last error librdkafka logged (a broker that refuses connections, say): added to timeouts so they say why. */
  private lastClientError = '';

  constructor(options: KafkaSinkOptions) {
    this.options = options;
    this.name = `kafka ${options.brokers.join(',')}`;
  }

  async open(): Promise<void> {
    const { Producer } = await loadKafkaClient();
    const o = this.options;
    // Probe the bootstrap brokers over TCP first: a librdkafka client that never
    // reaches a broker blocks its own teardown (and process exit) for 30 s.
    const unreachable = await whyUnreachable(o.brokers, Math.min(o.timeoutMs, 5000));
    if (unreachable !== undefined) {
      throw new SinkError(`cannot reach Kafka (${unreachable}); check sink.brokers and that the brokers are up`, { retriable: true });
    }
    const producer = new Producer({
      ...connectionProperties(o),
      // What the KafkaJS-compatible layer set before (pgcdc 0.1 used it): murmur2 on the key as Java's client, so a key lands where Debezium puts it.
      partitioner: 'murmur2_random',
      'enable.idempotence': true,
      acks: -1,
      'compression.codec': o.compression,
      retries: 5,
      'message.timeout.ms': o.timeoutMs,
      'message.max.bytes': Math.max(o.maxMessageBytes + 1024, 1_000_000),
      'linger.ms': 2,
      log_level: 4, // warnings and errors: kept to say why a delivery timed out
      dr_cb: true,
      ...o.librdkafka,
    });
    const remember = (message: string) => { this.lastClientError = message; };
    producer.on('event.error', (error) => remember(error.message));
    // Only warnings and errors (syslog severities up to 4): a `debug` set in sink.librdkafka must not hide them.
    producer.on('event.log', (log) => { if (log.severity <= 4) remember(log.message); });
    // Each message's opaque is its batch's tally: one report settles one message.
    producer.on('delivery-report', (error, report) => (report.opaque as DeliveryTally).settle(error));
    try {
      await withTimeout(new Promise<void>((resolve, reject) => producer.connect(null, (error) => (error ? reject(error) : resolve()))), o.timeoutMs);
    } catch (error) {
      // Not awaited for long: a producer that never connected can take 30 s to disconnect.
      await withTimeout(disconnect(producer, 0), 1000).catch(() => undefined);
      const why = this.lastClientError ? `${(error as Error).message}; last client error: ${this.lastClientError}` : (error as Error).message;
      throw new SinkError(`cannot reach Kafka at ${o.brokers.join(', ')}: ${why}; check sink.brokers and that the brokers are up`, { retriable: true, cause: error });
    }
    producer.setPollInBackground(true);
    this.producer = producer;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    const batch = this.encode(records);
    try {
      await this.writeEncoded([batch]);
    } finally {
      releaseWritten([batch]);
    }
    return { rejected: batch.rejected };
  }

  /**
   * Every value encoded into one Buffer when the batch is prepared, and handed
   * to the client as a view of it: the client otherwise made a Buffer of each
   * string (V8's UTF-8 encoder, one allocation per record), about a tenth of
   * this sink's CPU. Only topics, keys and headers are kept beside the bytes:
   * the records and their events waited for the delivery reports as objects,
   * were promoted, and made garbage collection a quarter of `run` → Kafka's
   * CPU (docs/benchmarks.md).
   */
  encode(records: OutboundRecord[]): KafkaBatch {
    const rejected: SinkResult['rejected'] = [];
    let estimate = 0;
    for (const record of records) estimate += record.value.length;
    // Pooled (buffer-pool.ts): given back once the pipeline confirmed the write (librdkafka copies each value, RK_MSG_COPY).
    const out = new ByteWriter(estimate, { pooled: true });
    const ends = new Uint32Array(records.length);
    const topics: string[] = [];
    const keys: Array<string | null> = [];
    const headers: Array<KafkaHeaders | undefined> = [];
    for (const record of records) {
      const start = out.length;
      const size = out.utf8(record.value);
      if (size > this.options.maxMessageBytes) {
        out.truncate(start);
        rejected.push({ record, reason: `record of ${size} bytes is larger than sink.maxMessageBytes (${this.options.maxMessageBytes})` });
        continue;
      }
      ends[topics.length] = out.length;
      topics.push(record.topic);
      keys.push(record.key);
      headers.push(kafkaHeaders(record.headers));
    }
    const count = topics.length;
    const bytes = out.finish();
    if (count === 0) giveBack(bytes);
    return { bytes: count === 0 ? EMPTY : bytes, count, rejected, ends: ends.subarray(0, count), topics, keys, headers };
  }

  /** Resolves once every message of every batch has its delivery report; the first failure fails the write (retried whole). */
  async writeEncoded(batches: KafkaBatch[]): Promise<void> {
    // No producer after a fatal error: start a new one (its failure is retried like any other).
    if (this.producer === undefined) await this.open();
    const producer = this.producer!;
    // In batch order: librdkafka keeps that order per partition (idempotence keeps it across its retries).
    const tally = new DeliveryTally();
    let failure: unknown;
    // A delivery that already failed fails the write: nothing more is queued for it.
    queueing: for (const batch of batches) {
      const { bytes, ends, topics, keys, headers } = batch;
      for (let i = 0; i < batch.count && !tally.failed;) {
        try {
          producer.produce(topics[i]!, null, bytes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!), keys[i]!, 0, tally, headers[i]);
        } catch (error) {
          // librdkafka's queue is full (queue.buffering.max.messages or .kbytes, smaller than
          // this write): the next delivery report makes room, then this record is queued again.
          if ((error as LibrdKafkaError).code === ERR_QUEUE_FULL && tally.outstanding > 0) {
            await tally.nextReport();
            continue;
          }
          // Refused otherwise: the write fails once what was queued settles.
          failure = error;
          break queueing;
        }
        tally.queued++;
        i++;
      }
    }
    const error = await tally.settled() ?? failure;
    if (error !== undefined) throw await this.failed(producer, error);
  }

  /** The error a failed batch is reported with; a fatal one also ends this producer (the next attempt starts a new one). */
  private async failed(producer: RdKafkaProducer, error: unknown): Promise<SinkError> {
    const code = (error as LibrdKafkaError).code;
    if ((error as LibrdKafkaError).isFatal === true || code === ERR_FATAL) {
      if (this.producer === producer) this.producer = undefined;
      await withTimeout(disconnect(producer, 0), 5000).catch(() => undefined);
    }
    // Refused credentials or ACLs repeat on every attempt: configuration, not events.
    // (librdkafka's mock cluster has no ACLs, so this branch is not exercised by the tests.)
    if (AUTHORIZATION.test((error as Error).message)) {
      return new SinkError(`Kafka refuses pgcdc: ${this.describe(error)}; grant the sink's principal Write (and IdempotentWrite on the cluster) on these topics, or fix sink.sasl; nothing was dead-lettered`, { retriable: false, cause: error });
    }
    return new SinkError(`Kafka did not acknowledge the batch: ${this.describe(error)}`, { retriable: true, cause: error });
  }

  private describe(error: unknown): string {
    const message = (error as Error).message;
    const hint = /unknown topic/i.test(message) ? ' (create the topic, or enable auto.create.topics.enable on the brokers)' : '';
    const detail = this.lastClientError && !message.includes(this.lastClientError) && /timed out|timeout/i.test(message) ? ` (last client error: ${this.lastClientError})` : '';
    return `${message}${hint}${detail}`;
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer === undefined) return;
    await withTimeout(disconnect(producer, 5000), 6000).catch(() => undefined);
  }
}

/** librdkafka's RD_KAFKA_RESP_ERR__FATAL: a delivery failed because the producer had a fatal error. */
const ERR_FATAL = -150;
/** RD_KAFKA_RESP_ERR__QUEUE_FULL: `produce` refused a message because the producer's queue is full. */
const ERR_QUEUE_FULL = -184;

/**
 * The delivery reports of one batch: `settled` resolves once every queued
 * message has its report, with the first failure (if any). Counted by hand
 * rather than a promise per message: this is the sink's per-record cost.
 */
class DeliveryTally {
  queued = 0;
  private reported = 0;
  private failure: LibrdKafkaError | undefined;
  private resolve: ((failure: LibrdKafkaError | undefined) => void) | undefined;
  private reportWaiter: (() => void) | undefined;

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Queued and not yet reported. */
  get outstanding(): number {
    return this.queued - this.reported;
  }

  settle(error: LibrdKafkaError | null): void {
    if (error !== null && this.failure === undefined) this.failure = error;
    this.reported++;
    const waiter = this.reportWaiter;
    this.reportWaiter = undefined;
    waiter?.();
    if (this.reported === this.queued && this.resolve !== undefined) this.resolve(this.failure);
  }

  /** Resolves at the next delivery report (room in librdkafka's queue). */
  nextReport(): Promise<void> {
    return new Promise((resolve) => { this.reportWaiter = resolve; });
  }

  /** Called once everything is queued. */
  settled(): Promise<LibrdKafkaError | undefined> {
    if (this.reported === this.queued) return Promise.resolve(this.failure);
    return new Promise((resolve) => { this.resolve = resolve; });
  }
}

/** The record's headers as librdkafka takes them (undefined when there are none: no work in the addon). */
function kafkaHeaders(headers: Record<string, string>): KafkaHeaders | undefined {
  let list: KafkaHeaders | undefined;
  for (const name in headers) (list ??= []).push({ [name]: headers[name]! });
  return list;
}

/** Bootstrap, client id and security, as the KafkaJS-compatible layer translated them for pgcdc 0.1. */
function connectionProperties(o: KafkaSinkOptions): RdKafkaConfig {
  const properties: RdKafkaConfig = {
    'bootstrap.servers': o.brokers.join(','),
    'client.id': o.clientId,
    'socket.timeout.ms': 30_000,
    'socket.connection.setup.timeout.ms': 11_000,
    'retry.backoff.ms': 300,
    'retry.backoff.max.ms': 30_000,
  };
  if (o.sasl !== undefined) {
    properties['sasl.mechanism'] = o.sasl.mechanism.toUpperCase();
    properties['sasl.username'] = o.sasl.username;
    properties['sasl.password'] = o.sasl.password;
    properties['security.protocol'] = o.ssl ? 'sasl_ssl' : 'sasl_plaintext';
  } else if (o.ssl) {
    properties['security.protocol'] = 'ssl';
  }
  return properties;
}

/** Flushes for up to `timeoutMs` and disconnects; never throws (a producer that never connected refuses to flush). */
function disconnect(producer: RdKafkaProducer, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    try {
      producer.disconnect(timeoutMs, () => resolve());
    } catch {
      resolve();
    }
  });
}

/** librdkafka's authorization and authentication failures (TOPIC_/CLUSTER_AUTHORIZATION_FAILED, SASL_AUTHENTICATION_FAILED). */
const AUTHORIZATION = /AUTHORIZATION_FAILED|authorization failed|not authorized|SASL_AUTHENTICATION_FAILED|authentication failed/i;

/** Undefined when some bootstrap broker accepts a TCP connection; otherwise why none did. */
async function whyUnreachable(brokers: string[], timeoutMs: number): Promise<string | undefined> {
  const attempts = brokers.map((broker) => new Promise<string | undefined>((resolve) => {
    const colon = broker.lastIndexOf(':');
    const socket = tcpConnect({ host: broker.slice(0, colon), port: Number(broker.slice(colon + 1)) });
    socket.setTimeout(timeoutMs, () => { socket.destroy(); resolve(`${broker}: no answer within ${timeoutMs} ms`); });
    socket.once('connect', () => { socket.destroy(); resolve(undefined); });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(`${broker}: ${error.code ?? error.message}`));
  }));
  const results = await Promise.all(attempts);
  return results.every((r) => r !== undefined) ? results.join(', ') : undefined;
}
