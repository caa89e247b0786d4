/**
 * pgcdc as a library. Everything public is exported here; nothing else is API.
 *
 *   import { ChangeStream } from 'pgcdc';
 *   const stream = await ChangeStream.open({ connection: process.env.DATABASE_URL, slot: 'app' });
 *   for await (const batch of stream) {
 *     await deliver(batch.events);   // your sink
 *     batch.confirm();               // only now may the slot move past these events
 *   }
 */
export { ChangeStream } from './engine/change-stream.ts';
export type { ChangeStreamOptions, EventBatch, StreamStats } from './engine/change-stream.ts';
export type { ChangeEvent, EventMeta, EventSource, MessageBody, Operation, TransactionBlock } from './events/change-event.ts';
export { eventMeta } from './events/event-builder.ts';
export { formatPretty } from './format/pretty.ts';
export type { FilterOptions } from './transform/event-filter.ts';
export type { DeadLetter, Transform, TransformContext, TransactionScope } from './transform/transform.ts';
export type { NamedTransform } from './transform/transform-chain.ts';
export type { Route } from './events/change-event.ts';
export { outboxRouter, type OutboxOptions } from './transform/outbox-router.ts';
export { auditEnricher, type AuditOptions } from './transform/audit-enricher.ts';
export type { HeartbeatOptions } from './engine/heartbeat.ts';
export { buildEventFilter } from './transform/event-filter.ts';
export { formatLsn, parseLsn, lsn, lsnPlus, LSN_ZERO, type Lsn } from './core/lsn.ts';
export { CdcError, ProtocolError, EXIT_CODES, type ErrorCode } from './core/errors.ts';
export { isRawJson, type JsonObject, type JsonValue, type RawJson } from './core/json.ts';
export { decodePgOutput, PgOutputDecoder } from './decode/pgoutput/decode.ts';
export type { PgOutputMessage } from './decode/pgoutput/messages.ts';
export { listSlots, type SlotInfo } from './source/slots.ts';
export { PGCDC_VERSION } from './core/version.ts';
export { StreamMetrics } from './observe/metrics.ts';
export { createPipeline, Pipeline, type PipelineHealth, type PipelineProgress } from './pipeline/pipeline.ts';
export { parseConfig, loadConfig, loadConfigFile, defineConfig } from './config/load-config.ts';
export type { PgcdcConfig, PgcdcConfigInput, PipelineConfig, PipelineConfigInput, SinglePipelineConfigInput, SinkConfig } from './config/schema.ts';
export type { Sink } from './sink/sink.ts';
export { SinkError } from './sink/sink.ts';
export type { OutboundRecord } from './sink/outbound-record.ts';
export { serveMetrics } from './observe/metrics-server.ts';

// The lower level, for those who own their loop (as pglogrepl lets them): the
// replication connection and its CopyBoth session, the pure pgoutput decoder,
// and the standby status update. docs/low-level.md streams and acknowledges by hand.
export { resolveConnection, type ConnectionTarget } from './source/connection-config.ts';
export { ReplicationConnection, type SystemIdentity } from './source/replication-connection.ts';
export { CopyBothSession, type CopyBothHandler } from './source/copy-both-session.ts';
export { encodeStandbyStatus, StatusFeedback, type StandbyStatus } from './source/feedback.ts';
export type { PrimaryKeepalive, XLogDataHeader } from './decode/copy-both.ts';
export { AckTracker, type AckTicket } from './acknowledge/ack-tracker.ts';

