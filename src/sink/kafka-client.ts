/**
 * The part of @confluentinc/kafka-javascript that the Kafka sink uses: its
 * librdkafka-level producer (the node-rdkafka API), typed here and loaded at run
 * time.
 *
 * Not its KafkaJS-compatible layer: that layer makes a promise, a closure and a
 * result object for every message and deletes a property of every delivery
 * report, which cost pgcdc 3-4 µs per record (docs/benchmarks.md). The sink
 * counts a batch's delivery reports itself.
 *
 * The client is an optional peer (a native addon, docs/decisions/0008): pgcdc's
 * type check and build must not depend on it having built, so these types are
 * pgcdc's own, written from the client's `index.d.ts`, and the module is
 * imported only when a pipeline has a Kafka sink.
 */
import { SinkError } from './sink.ts';

/** librdkafka's error: `code` is its error code (negative: raised by the client, positive: by a broker). */
export interface LibrdKafkaError extends Error {
  code: number;
  /** The producer cannot go on (an idempotence failure): it must be replaced. */
  isFatal?: boolean;
}

export interface DeliveryReport {
  topic: string;
  partition: number;
  /** What `produce` was given for this message. */
  opaque: unknown;
}

/** librdkafka's log line, emitted when its level is at or below `log_level`. */
export interface KafkaLog {
  severity: number;
  fac: string;
  message: string;
}

/** One header per entry, as librdkafka takes them. */
export type KafkaHeaders = Array<Record<string, string>>;

export interface RdKafkaProducer {
  connect(metadataOptions: null, callback: (error: LibrdKafkaError | null) => void): void;
  /** Flushes for up to `timeoutMs`, then disconnects. */
  disconnect(timeoutMs: number, callback: (error?: unknown) => void): void;
  /** Delivery reports and events are polled by a librdkafka thread, not a JS timer. */
  setPollInBackground(enabled: boolean): void;
  /** Queues one message; `partition` null uses the configured partitioner. Throws when librdkafka refuses it at once (queue full, too large). */
  produce(topic: string, partition: null, value: Buffer, key: string | null, timestamp: number, opaque: unknown, headers: KafkaHeaders | undefined): void;
  on(event: 'delivery-report', listener: (error: LibrdKafkaError | null, report: DeliveryReport) => void): void;
  on(event: 'event.error', listener: (error: LibrdKafkaError) => void): void;
  on(event: 'event.log', listener: (log: KafkaLog) => void): void;
}

/** librdkafka configuration properties (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md). */
export type RdKafkaConfig = Record<string, string | number | boolean>;

export interface KafkaClientModule {
  Producer: new (config: RdKafkaConfig) => RdKafkaProducer;
}

const MODULE = '@confluentinc/kafka-javascript';

export async function loadKafkaClient(): Promise<KafkaClientModule> {
  try {
    // A variable specifier: TypeScript does not resolve it, so pgcdc builds without the client installed.
    const loaded = await import(MODULE) as KafkaClientModule & { default?: KafkaClientModule };
    return loaded.Producer ? loaded : loaded.default!;
  } catch (error) {
    throw new SinkError(`the Kafka sink needs ${MODULE}, which is not installed or did not load (${(error as Error).message.split('\n')[0]}); run 'npm install ${MODULE}'`, { retriable: false, cause: error });
  }
}
