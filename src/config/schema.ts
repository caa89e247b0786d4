/**
 * The shape of pgcdc.yaml / pgcdc.json (docs/run.md), validated with zod so that
 * every mistake is reported with its path and what was expected.
 */
import { z } from 'zod';
import { SIZE_TEXT, sizeBytes } from '../core/size.ts';
import type { Transform } from '../transform/transform.ts';

export { sizeBytes, type Size } from '../core/size.ts';

const hostPort = z.string().regex(/^[^\s:/]+:\d+$/, 'expected host:port');
const size = z.union([z.number().int().positive(), z.string().regex(SIZE_TEXT, 'expected a size like 16MiB, 512KiB or 1GiB')])
  .refine((value) => sizeBytes(value) >= 1, 'expected a size above 0, like 16MiB');
const duration = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?(ms|s|m)$/, 'expected a duration like 500ms, 10s or 1m')]);

export const sourceSchema = z.object({
  url: z.string().min(1, 'expected a postgresql:// URL').optional(),
  slot: z.string().regex(/^[a-z0-9_]{1,63}$/, 'expected 1-63 lower-case letters, digits and underscores').default('pgcdc'),
  publication: z.string().min(1).default('pgcdc'),
  tables: z.array(z.string().min(1)).default([]),
  plugin: z.enum(['pgoutput', 'wal2json', 'test_decoding']).default('pgoutput'),
  temporary: z.boolean().default(false),
  createSlot: z.boolean().default(true),
  name: z.string().min(1).default('pgcdc'),
  statusInterval: duration.default('10s'),
  /** Keep pgcdc's own record of the acknowledged position in pgcdc.delivered (docs/lsn-and-acks.md). */
  deliveredRecord: z.boolean().default(true),
  /** A slot lost since the last run: stop (PGCDC_SLOT_LOST, exit 9), or make a new one and read the tables again after a pgcdc.gap event. */
  onSlotLost: z.enum(['stop', 'resnapshot']).default('stop'),
  /** PostgreSQL 17+: create slots as failover slots (synchronized to standbys with sync_replication_slots). */
  failover: z.boolean().default(true),
  /**
   * One active instance per slot: instances with this configuration wait as
   * standbys while another holds the slot's lease, and take over when it lapses
   * for this long (docs/decisions/0011). false: no lease.
   */
  lease: z.union([duration, z.literal(false)]).default('5s'),
  /**
   * Estimated memory open transactions may hold before spilling to `spillDir`
   * (decision 0017). Unset: the engine's default, 16 MiB
   * (DEFAULT_MEMORY_BUDGET_BYTES in assemble/transaction-assembler.ts), so the
   * library and `pgcdc run` share one default.
   */
  memoryBudget: size.optional(),
  /** Where large transactions spill (default: the system's temporary directory, TMPDIR). */
  spillDir: z.string().min(1).optional(),
}).strict();

const fileSinkSchema = z.object({
  type: z.literal('file'),
  path: z.string().min(1, 'expected a file path'),
  /** Rotate when the file reaches this many bytes (0: never). */
  rotateBytes: z.number().int().nonnegative().default(0),
  fsync: z.boolean().default(true),
}).strict();

const stdoutSinkSchema = z.object({ type: z.literal('stdout') }).strict();

const natsSinkSchema = z.object({
  type: z.literal('nats'),
  servers: z.array(hostPort, 'expected a list of host:port').min(1, 'expected a list of host:port'),
  /** Subject for table events; {prefix}, {schema}, {table} are replaced. */
  subject: z.string().min(1).default('{prefix}.{schema}.{table}'),
  /** Subject for logical decoding messages; {prefix} and {message_prefix}. */
  messageSubject: z.string().min(1).default('{prefix}.message.{message_prefix}'),
  /** A JetStream stream to create when missing. */
  stream: z.string().min(1).optional(),
  /** Subjects of that stream (default `{prefix}.>`; add your outbox subjects). */
  streamSubjects: z.array(z.string().min(1)).optional(),
  timeout: duration.default('10s'),
  user: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
}).strict();

const httpSinkSchema = z.object({
  type: z.literal('http'),
  url: z.url({ message: 'expected an http(s) URL' }),
  headers: z.record(z.string(), z.string()).default({}),
  /** HMAC-SHA256 key for the X-Pgcdc-Signature header. */
  secret: z.string().min(1).optional(),
  batchSize: z.number().int().positive().default(100),
  timeout: duration.default('10s'),
}).strict();

const redisSinkSchema = z.object({
  type: z.literal('redis'),
  url: z.string().regex(/^rediss?:\/\/./, 'expected redis://[user:password@]host:port[/db]'),
  /** Stream key for table events: {prefix}, {schema}, {table}. */
  key: z.string().min(1).default('{prefix}.{schema}.{table}'),
  /** Stream key for logical decoding messages: {prefix}, {message_prefix}. */
  messageKey: z.string().min(1).default('{prefix}.message'),
  maxLen: z.number().int().positive().optional(),
  timeout: duration.default('5s'),
}).strict();

const postgresSinkSchema = z.object({
  type: z.literal('postgres'),
  url: z.string().regex(/^postgres(ql)?:\/\/./, 'expected a postgresql:// URL'),
  mode: z.enum(['audit', 'mirror']).default('audit'),
  /** audit mode: the events table (created when missing). */
  table: z.string().min(1).default('public.pgcdc_events'),
  /** mirror mode: schema of the mirror tables (default: the source table's schema). */
  targetSchema: z.string().min(1).optional(),
}).strict();

const kafkaSinkSchema = z.object({
  type: z.literal('kafka'),
  brokers: z.array(hostPort, 'expected a list of host:port').min(1, 'expected a list of host:port'),
  /** Topic for table events: {prefix}, {schema}, {table} (Debezium's naming). */
  topic: z.string().min(1).default('{prefix}.{schema}.{table}'),
  /** Topic for logical decoding messages: {prefix}, {message_prefix} (Debezium: {prefix}.message). */
  messageTopic: z.string().min(1).default('{prefix}.message'),
  clientId: z.string().min(1).default('pgcdc'),
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
  /** How long a batch may wait for its delivery reports before it is retried. */
  timeout: duration.default('30s'),
  ssl: z.boolean().default(false),
  sasl: z.object({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), username: z.string().min(1), password: z.string() }).strict().optional(),
  /** Larger record values go to the dead-letter destination. */
  maxMessageBytes: z.number().int().positive().default(1_000_000),
  /** librdkafka properties passed through, e.g. { "linger.ms": 5 }. */
  librdkafka: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
}).strict();

const rabbitMqSinkSchema = z.object({
  type: z.literal('rabbitmq'),
  url: z.string().regex(/^amqps?:\/\/./, 'expected amqp://[user:password@]host:port[/vhost]'),
  exchange: z.string().default('pgcdc'),
  exchangeType: z.enum(['topic', 'direct', 'fanout', 'headers']).default('topic'),
  /** Declare the exchange (durable) at start. */
  declareExchange: z.boolean().default(true),
  /** Routing key for table events: {prefix}, {schema}, {table}. */
  routingKey: z.string().min(1).default('{prefix}.{schema}.{table}'),
  /** Routing key for logical decoding messages: {prefix}, {message_prefix}. */
  messageRoutingKey: z.string().min(1).default('{prefix}.message.{message_prefix}'),
  /** Unroutable messages come back and go to the dead-letter destination (else RabbitMQ drops them). */
  mandatory: z.boolean().default(false),
  timeout: duration.default('10s'),
}).strict();

export const sinkSchema = z.discriminatedUnion('type', [fileSinkSchema, stdoutSinkSchema, kafkaSinkSchema, natsSinkSchema, rabbitMqSinkSchema, httpSinkSchema, redisSinkSchema, postgresSinkSchema], {
  error: (issue) => (issue.code === 'invalid_union' ? 'expected a sink type: kafka, nats, rabbitmq, redis, http, postgres, file or stdout' : undefined),
});

export const pipelineSchema = z.object({
  name: z.string().min(1).optional(),
  source: sourceSchema,
  sink: sinkSchema,
  filter: z.object({ tables: z.array(z.string()).optional(), ops: z.array(z.string()).optional(), prefixes: z.array(z.string()).optional() }).strict().default({}),
  outbox: z.union([z.literal(false), z.object({ prefix: z.string().min(1).optional(), topicTemplate: z.string().min(1).optional(), tables: z.array(z.string()).optional() }).strict()]).default({}),
  audit: z.union([z.literal(false), z.object({ prefix: z.string().min(1).optional(), field: z.string().min(1).optional(), deliverMessages: z.boolean().optional(), requireFor: z.array(z.string()).optional() }).strict()]).default({}),
  heartbeat: z.union([z.literal(false), z.object({ interval: duration.default('10s'), prefix: z.string().min(1).default('heartbeat') }).strict()]).default({ interval: '10s', prefix: 'heartbeat' }),
  deadLetter: z.object({ type: z.literal('file'), path: z.string().min(1) }).strict().optional(),
  onRejected: z.enum(['dead-letter', 'stop']).default('dead-letter'),
  /** The record value: Debezium's envelope, the same with Kafka Connect's schema (`debezium-connect`), or CloudEvents 1.0 (structured JSON, or binary with ce_ headers). */
  /** Existing rows as op "r" events before streaming (docs/snapshots.md). */
  snapshot: z.object({
    mode: z.enum(['initial', 'never', 'initial_only', 'always']).default('initial'),
    /** Rows per snapshot query at most: fewer when rows are wide or readers many, so that the chunks in flight hold about 768 KiB of text (decision 0016). */
    chunkSize: z.number().int().positive().default(2_000),
    /** Readers at once, each a connection in the same snapshot: tables and key ranges of large tables side by side (docs/snapshots.md). */
    parallelism: z.number().int().min(1).max(64).default(2),
    tables: z.array(z.string().min(1)).optional(),
    keys: z.record(z.string(), z.array(z.string().min(1)).min(1)).optional(),
    /** Progress, for resuming an interrupted snapshot (default .pgcdc/<slot>.snapshot.json beside the config file). */
    stateFile: z.string().min(1).optional(),
    /** Incremental snapshots on `pgcdc.signal` messages (docs/snapshots.md). */
    signals: z.boolean().default(true),
    /** Rows per incremental chunk: held in memory until the chunk's high watermark. */
    incrementalChunkSize: z.number().int().positive().default(1024),
  }).strict().default({ mode: 'initial', chunkSize: 2_000, parallelism: 2, signals: true, incrementalChunkSize: 1024 }),
  /**
   * Your transforms, run after the built-in ones, in order: module paths
   * (default export: a function or a list of them; relative to the config file)
   * or, in pgcdc.config.ts, the functions themselves.
   */
  transforms: z.array(z.union([
    z.string().min(1),
    z.custom<Transform>((value) => typeof value === 'function', 'expected a module path or a function (event, context) => event | event[] | null'),
  ])).default([]),
  envelope: z.enum(['debezium', 'debezium-connect', 'cloudevents-structured', 'cloudevents-binary']).default('debezium'),
  retry: z.object({ initialDelay: duration.default('200ms'), maxDelay: duration.default('30s') }).strict().default({ initialDelay: '200ms', maxDelay: '30s' }),
}).strict();

export const configSchema = z.object({
  pipelines: z.array(pipelineSchema).min(1, 'expected at least one pipeline'),
  /**
   * pgcdc run's HTTP port: /metrics, /healthz, /readyz and the console at `/`
   * (docs/console.md). Bound anywhere but loopback, every request needs `token`
   * (or PGCDC_CONSOLE_TOKEN).
   */
  metrics: z.union([z.literal(false), z.object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535),
    token: z.string().min(16, 'metrics.token: use at least 16 characters (e.g. openssl rand -hex 16)').optional(),
    console: z.boolean().default(true),
  }).strict()]).default(false),
}).strict();

export type PgcdcConfig = z.infer<typeof configSchema>;
/** What a config file may contain (defaults not yet applied): the type of `defineConfig()`. */
export type PgcdcConfigInput = z.input<typeof configSchema>;
export type PipelineConfigInput = z.input<typeof pipelineSchema>;
/** A file with one pipeline may write it at the top level. */
export type SinglePipelineConfigInput = PipelineConfigInput & { metrics?: PgcdcConfigInput['metrics'] };
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type SinkConfig = z.infer<typeof sinkSchema>;
export type Duration = z.infer<typeof duration>;

/** 500 → 500 ms; "10s" → 10,000; "1m" → 60,000. */
export function durationMs(value: Duration): number {
  if (typeof value === 'number') return value;
  const n = Number.parseFloat(value);
  return value.endsWith('ms') ? n : value.endsWith('s') ? n * 1000 : n * 60_000;
}
