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
import { SinkError, type Sink, type SinkResult } from './sink.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { loadKafkaClient, type KafkaLogger, type KafkaMessage, type KafkaProducer } from './kafka-client.ts';

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

export class KafkaSink implements Sink {
  readonly name: string;
  private readonly options: KafkaSinkOptions;
  private producer: KafkaProducer | undefined;
  /** The last error librdkafka logged (a broker that refuses connections, say): added to timeouts so they say why. */
  private lastClientError = '';

  constructor(options: KafkaSinkOptions) {
    this.options = options;
    this.name = `kafka ${options.brokers.join(',')}`;
  }

  async open(): Promise<void> {
    const { KafkaJS: kafkajs } = await loadKafkaClient();
    const o = this.options;
    // Probe the bootstrap brokers over TCP first: a librdkafka client that never
    // reaches a broker blocks its own teardown (and process exit) for 30 s.
    const unreachable = await whyUnreachable(o.brokers, Math.min(o.timeoutMs, 5000));
    if (unreachable !== undefined) {
      throw new SinkError(`cannot reach Kafka (${unreachable}); check sink.brokers and that the brokers are up`, { retriable: true });
    }
    const remember = (message: string) => { this.lastClientError = message; };
    const logger: KafkaLogger = {
      info: () => undefined,
      debug: () => undefined,
      warn: remember,
      error: remember,
      namespace: () => logger,
      setLogLevel: () => undefined,
    };
    const kafka = new kafkajs.Kafka({
      kafkaJS: {
        brokers: o.brokers,
        clientId: o.clientId,
        ssl: o.ssl,
        ...(o.sasl ? { sasl: o.sasl } : {}),
        logger,
        logLevel: kafkajs.logLevel.WARN,
      },
    });
    const producer = kafka.producer({
      kafkaJS: { idempotent: true, acks: -1, compression: o.compression },
      'message.timeout.ms': o.timeoutMs,
      'message.max.bytes': Math.max(o.maxMessageBytes + 1024, 1_000_000),
      'linger.ms': 2,
      ...o.librdkafka,
    });
    try {
      await withTimeout(producer.connect(), o.timeoutMs);
    } catch (error) {
      // Not awaited for long: a producer that never connected can take 30 s to disconnect.
      await withTimeout(producer.disconnect(), 1000).catch(() => undefined);
      const why = this.lastClientError ? `${(error as Error).message}; last client error: ${this.lastClientError}` : (error as Error).message;
      throw new SinkError(`cannot reach Kafka at ${o.brokers.join(', ')}: ${why}; check sink.brokers and that the brokers are up`, { retriable: true, cause: error });
    }
    this.producer = producer;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    // No producer after a fatal error: start a new one (its failure is retried like any other).
    if (this.producer === undefined) await this.open();
    const producer = this.producer!;
    const rejected: SinkResult['rejected'] = [];
    // Every value is encoded into one Buffer and handed over as a view of it: the
    // client otherwise made a Buffer of each string (V8's UTF-8 encoder, one
    // allocation per record), about a tenth of this sink's CPU.
    let estimate = 0;
    for (const record of records) estimate += record.value.length;
    const out = new ByteWriter(estimate);
    // The records kept, and where each one's bytes end (each starts where the one before ended).
    const kept: OutboundRecord[] = [];
    const ends: number[] = [];
    for (const record of records) {
      const start = out.length;
      const size = out.utf8(record.value);
      if (size > this.options.maxMessageBytes) {
        out.truncate(start);
        rejected.push({ record, reason: `record of ${size} bytes is larger than sink.maxMessageBytes (${this.options.maxMessageBytes})` });
        continue;
      }
      kept.push(record);
      ends.push(out.length);
    }
    const bytes = out.finish();
    // One list per topic, in batch order: librdkafka keeps that order per partition.
    const byTopic = new Map<string, KafkaMessage[]>();
    for (let i = 0; i < kept.length; i++) {
      const record = kept[i]!;
      let messages = byTopic.get(record.topic);
      if (messages === undefined) byTopic.set(record.topic, messages = []);
      messages.push({ key: record.key, value: bytes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!), headers: record.headers });
    }
    if (byTopic.size > 0) {
      try {
        await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      } catch (error) {
        const fatal = (error as { fatal?: boolean }).fatal === true;
        if (fatal) {
          // A fatal idempotence error ends this producer; the next attempt starts a new one.
          this.producer = undefined;
          await withTimeout(producer.disconnect(), 5000).catch(() => undefined);
        }
        // Refused credentials or ACLs repeat on every attempt: configuration, not events.
        // (librdkafka's mock cluster has no ACLs, so this branch is not exercised by the tests.)
        const denied = AUTHORIZATION.test(`${(error as Error).message} ${(error as { type?: string }).type ?? ''}`);
        if (denied) {
          throw new SinkError(`Kafka refuses pgcdc: ${this.describe(error)}; grant the sink's principal Write (and IdempotentWrite on the cluster) on these topics, or fix sink.sasl; nothing was dead-lettered`, { retriable: false, cause: error });
        }
        throw new SinkError(`Kafka did not acknowledge the batch: ${this.describe(error)}`, { retriable: true, cause: error });
      }
    }
    return { rejected };
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
    await withTimeout(producer.disconnect(), 5000).catch(() => undefined);
  }
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
