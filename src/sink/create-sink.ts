/** Builds the sink a pipeline's config names. */
import { durationMs, type PipelineConfig, type SinkConfig } from '../config/schema.ts';
import { FileSink } from './file-sink.ts';
import { NatsSink } from './nats-sink.ts';
import { KafkaSink } from './kafka-sink.ts';
import { RabbitMqSink } from './rabbitmq-sink.ts';
import { HttpSink } from './http-sink.ts';
import { RedisSink } from './redis-sink.ts';
import { PostgresAuditSink } from './postgres-audit-sink.ts';
import { PostgresMirrorSink } from './postgres-mirror-sink.ts';
import type { Sink } from './sink.ts';
import { StdoutSink } from './stdout-sink.ts';
import { DEBEZIUM_TOPICS, type TopicNaming } from './outbound-record.ts';

export function createSink(config: SinkConfig, prefix: string, auditField = 'auditData', envelope: PipelineConfig['envelope'] = 'debezium'): { sink: Sink; naming: TopicNaming } {
  switch (config.type) {
    case 'file':
      return { sink: new FileSink({ path: config.path, rotateBytes: config.rotateBytes, fsync: config.fsync }), naming: { ...DEBEZIUM_TOPICS, prefix } };
    case 'stdout':
      return { sink: new StdoutSink(), naming: { ...DEBEZIUM_TOPICS, prefix } };
    case 'http':
      return {
        sink: new HttpSink({ url: config.url, headers: config.headers, secret: config.secret, batchSize: config.batchSize, timeoutMs: durationMs(config.timeout) }),
        naming: { ...DEBEZIUM_TOPICS, prefix },
      };
    case 'postgres':
      return {
        sink: config.mode === 'audit'
          ? new PostgresAuditSink({ url: config.url, table: config.table, auditField, valueIsEvent: envelope === 'debezium' || envelope === 'cloudevents-binary' })
          : new PostgresMirrorSink({ url: config.url, targetSchema: config.targetSchema }),
        naming: { ...DEBEZIUM_TOPICS, prefix },
      };
    case 'redis':
      return {
        sink: new RedisSink({ url: config.url, maxLen: config.maxLen, timeoutMs: durationMs(config.timeout) }),
        naming: { prefix, tableTopic: config.key, messageTopic: config.messageKey },
      };
    case 'kafka':
      return {
        sink: new KafkaSink({
          brokers: config.brokers,
          clientId: config.clientId,
          timeoutMs: durationMs(config.timeout),
          compression: config.compression,
          ssl: config.ssl,
          ...(config.sasl ? { sasl: config.sasl } : {}),
          maxMessageBytes: config.maxMessageBytes,
          librdkafka: config.librdkafka,
        }),
        naming: { prefix, tableTopic: config.topic, messageTopic: config.messageTopic },
      };
    case 'rabbitmq':
      return {
        sink: new RabbitMqSink({
          url: config.url,
          exchange: config.exchange,
          exchangeType: config.exchangeType,
          declareExchange: config.declareExchange,
          mandatory: config.mandatory,
          timeoutMs: durationMs(config.timeout),
        }),
        naming: { prefix, tableTopic: config.routingKey, messageTopic: config.messageRoutingKey },
      };
    case 'nats':
      return {
        sink: new NatsSink({
          servers: config.servers,
          stream: config.stream,
          streamSubjects: config.streamSubjects ?? [`${prefix}.>`],
          timeoutMs: durationMs(config.timeout),
          ...(config.user ? { user: config.user, password: config.password ?? '' } : {}),
          ...(config.token ? { token: config.token } : {}),
        }),
        naming: { prefix, tableTopic: config.subject, messageTopic: config.messageSubject },
      };
  }
}
