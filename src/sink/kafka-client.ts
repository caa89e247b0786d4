/**
 * The part of @confluentinc/kafka-javascript's KafkaJS-compatible API that the
 * Kafka sink uses, typed here and loaded at run time.
 *
 * The client is an optional peer (a native addon, docs/decisions/0008): pgcdc's
 * type check and build must not depend on it having built, so these types are
 * pgcdc's own, written from the client's `types/kafkajs.d.ts`, and the module is
 * imported only when a pipeline has a Kafka sink.
 */
import { SinkError } from './sink.ts';

export interface KafkaLogger {
  info(message: string): void;
  debug(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  namespace(): KafkaLogger;
  setLogLevel(level: number): void;
}

export interface KafkaMessage {
  key: string | Buffer | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface KafkaProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(batch: { topicMessages: Array<{ topic: string; messages: KafkaMessage[] }> }): Promise<unknown>;
}

export interface KafkaClientConfig {
  kafkaJS: {
    brokers: string[];
    clientId: string;
    ssl: boolean;
    sasl?: { mechanism: string; username: string; password: string };
    logger: KafkaLogger;
    logLevel: number;
  };
}

/** `kafkaJS` holds the KafkaJS-style settings; the other keys are librdkafka properties. */
export type KafkaProducerConfig = { kafkaJS: { idempotent: boolean; acks: number; compression: string } } & Record<string, unknown>;

export interface KafkaClientModule {
  KafkaJS: {
    Kafka: new (config: KafkaClientConfig) => { producer(config: KafkaProducerConfig): KafkaProducer };
    logLevel: { WARN: number };
  };
}

const MODULE = '@confluentinc/kafka-javascript';

export async function loadKafkaClient(): Promise<KafkaClientModule> {
  try {
    // A variable specifier: TypeScript does not resolve it, so pgcdc builds without the client installed.
    const loaded = await import(MODULE) as KafkaClientModule & { default?: KafkaClientModule };
    return loaded.KafkaJS ? loaded : loaded.default!;
  } catch (error) {
    throw new SinkError(`the Kafka sink needs ${MODULE}, which is not installed or did not load (${(error as Error).message.split('\n')[0]}); run 'npm install ${MODULE}'`, { retriable: false, cause: error });
  }
}
