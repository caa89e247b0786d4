/**
 * pgcdc/emit: write logical decoding messages from an application.
 *
 * No runtime dependencies: `db` is anything that runs SQL with parameters, i.e.
 * a node-postgres Client, PoolClient or Pool (`query(text, params)`), a
 * postgres.js `sql` or transaction `sql` (`unsafe(text, params)`), or an adapter
 * you write for Prisma, Drizzle or Kysely (docs/emit.md). Arguments are checked
 * before anything is written; a bad one throws an `EmitError`.
 *
 *   await emitOutbox(tx, { aggregateType: 'shipment', aggregateId: 42, payload: { status: 'SHIPPED' } });
 *   await emitAudit(tx, { user: 'bob@example.com', client: '10.0.0.1' });
 *   await emitLog(db, 'error', 'payment declined', { orderId: 7 });   // survives a rollback
 */
import { uuidV7 } from './uuid-v7.ts';

/** node-postgres Client, PoolClient, Pool, or anything with this shape. */
export interface QueryableDatabase {
  query(text: string, params?: unknown[]): Promise<unknown>;
}

/** A postgres.js `sql` or transaction `sql`. */
export interface PostgresJsDatabase {
  unsafe(text: string, params?: unknown[]): PromiseLike<unknown>;
}

export type Database = QueryableDatabase | PostgresJsDatabase;

export type JsonSerializable = null | boolean | number | string | JsonSerializable[] | { [key: string]: JsonSerializable | undefined } | { toJSON(): unknown };

/** Text is sent as is, bytes as bytea, anything else as JSON. */
export type MessageContent = string | Uint8Array | JsonSerializable;

export class EmitError extends Error {
  readonly code = 'PGCDC_EMIT_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmitError';
  }
}

export interface EmitMessageOptions {
  prefix: string;
  content: MessageContent;
  /** Default true: sent only if the surrounding transaction commits. */
  transactional?: boolean;
}

/**
 * Whether the server takes pg_logical_emit_message's `flush` argument
 * (PostgreSQL 17+), asked once per database object. A non-transactional message
 * in a transaction that rolls back is otherwise not flushed with it: it waits in
 * the WAL buffers for the WAL writer, and a crash in that window loses the very
 * line that was to survive the rollback. (Probing by calling the 4-argument form
 * would fail, and abort, the caller's transaction on older servers.)
 */
const flushSupport = new WeakMap<object, Promise<boolean>>();

function supportsFlush(db: Database): Promise<boolean> {
  let known = flushSupport.get(db);
  if (known === undefined) {
    known = run(db, `SELECT current_setting('server_version_num') AS value`, []).then((version) => Number(version) >= 170000, () => false);
    flushSupport.set(db, known);
  }
  return known;
}

/** Emits one message. Returns the message's WAL position as Postgres prints it (`0/16B3C8`). */
export async function emitMessage(db: Database, options: EmitMessageOptions): Promise<string> {
  const prefix = checkPrefix(options.prefix);
  const transactional = options.transactional ?? true;
  if (typeof transactional !== 'boolean') throw new EmitError('transactional must be true or false');
  const content = options.content;
  const payload = content instanceof Uint8Array ? content : typeof content === 'string' ? content : toJson(content, 'content');
  const type = content instanceof Uint8Array ? 'bytea' : 'text';
  // Transactional messages are flushed by their commit; the others by `flush => true` where the server has it.
  const flush = !transactional && await supportsFlush(db) ? ', true' : '';
  return run(db, `SELECT pg_logical_emit_message($1::boolean, $2::text, $3::${type}${flush})::text AS value`, [transactional, prefix, payload]);
}

export interface OutboxEvent {
  /** Becomes the topic (e.g. `shipment`). */
  aggregateType: string;
  /** Becomes the message key; events of one aggregate keep their order. */
  aggregateId: string | number;
  /** Optional event type (e.g. `ShipmentShipped`), sent as the `type` header. */
  type?: string;
  payload: JsonSerializable;
  /** Default: a new time-ordered UUID (v7). Sent as the `message_id` header. */
  id?: string;
  /** Default `outbox`. */
  prefix?: string;
}

/**
 * Emits an outbox event as a transactional message, in the shape pgcdc's outbox
 * router reads: {id, aggregate_type, aggregate_id, type?, payload}. Call it in the
 * transaction that changes the aggregate. Returns the event id.
 */
export async function emitOutbox(db: Database, event: OutboxEvent): Promise<string> {
  if (typeof event !== 'object' || event === null) throw new EmitError('emitOutbox needs an event object');
  if (typeof event.aggregateType !== 'string' || event.aggregateType.trim() === '') throw new EmitError('outbox aggregateType must be a non-empty string (it names the topic)');
  if ((typeof event.aggregateId !== 'string' && typeof event.aggregateId !== 'number') || event.aggregateId === '') {
    throw new EmitError('outbox aggregateId must be a non-empty string or a number (it keys the message)');
  }
  if (event.type !== undefined && (typeof event.type !== 'string' || event.type === '')) throw new EmitError('outbox type must be a non-empty string when given');
  if (event.payload === undefined) throw new EmitError('outbox payload is missing');
  if (event.id !== undefined && (typeof event.id !== 'string' || event.id === '')) throw new EmitError('outbox id must be a non-empty string when given');
  const id = event.id ?? uuidV7();
  const body: Record<string, unknown> = { id, aggregate_type: event.aggregateType, aggregate_id: event.aggregateId };
  if (event.type !== undefined) body.type = event.type;
  body.payload = JSON.parse(toJson(event.payload, 'outbox payload'));
  await emitMessage(db, { prefix: event.prefix ?? 'outbox', content: JSON.stringify(body), transactional: true });
  return id;
}

/**
 * Emits audit metadata (who, from where, why) for the current transaction as a
 * transactional message. pgcdc attaches it to every change event of the
 * transaction. Call it inside the transaction.
 */
export async function emitAudit(db: Database, metadata: { [key: string]: JsonSerializable | undefined }, options: { prefix?: string } = {}): Promise<string> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new EmitError('audit metadata must be an object, e.g. { user, client }');
  return emitMessage(db, { prefix: options.prefix ?? 'audit', content: toJson(metadata, 'audit metadata'), transactional: true });
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const LEVELS: ReadonlySet<string> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/**
 * Emits a log record as a non-transactional message: it is written to the WAL at
 * once and reaches consumers even if the surrounding transaction rolls back. On
 * PostgreSQL 17+ it is also flushed at once; before 17 it reaches disk within the
 * WAL writer's delay (`wal_writer_delay`, 200 ms by default) when its
 * transaction rolls back, and a server crash inside that window loses it.
 */
export async function emitLog(db: Database, level: LogLevel, message: string, fields: { [key: string]: JsonSerializable | undefined } = {}, options: { prefix?: string } = {}): Promise<string> {
  if (!LEVELS.has(level)) throw new EmitError(`log level must be one of ${[...LEVELS].join(', ')}, got ${JSON.stringify(level)}`);
  if (typeof message !== 'string') throw new EmitError('log message must be a string');
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new EmitError('log fields must be an object');
  const record = { ...JSON.parse(toJson(fields, 'log fields')), level, message, time: new Date().toISOString() };
  return emitMessage(db, { prefix: options.prefix ?? 'log', content: JSON.stringify(record), transactional: false });
}

function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix === '') throw new EmitError('message prefix must be a non-empty string');
  if (prefix.includes('\0')) throw new EmitError('message prefix must not contain NUL');
  return prefix;
}

function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new EmitError(`${what} cannot be serialised as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new EmitError(`${what} cannot be serialised as JSON (got ${typeof value})`);
  return text;
}

async function run(db: Database, text: string, params: unknown[]): Promise<string> {
  let result: unknown;
  if (typeof (db as PostgresJsDatabase).unsafe === 'function') result = await (db as PostgresJsDatabase).unsafe(text, params);
  else if (typeof (db as QueryableDatabase).query === 'function') result = await (db as QueryableDatabase).query(text, params);
  else throw new EmitError('db must have query(text, params) (node-postgres) or unsafe(text, params) (postgres.js)');
  const rows = Array.isArray(result) ? result : (result as { rows?: unknown[] } | undefined)?.rows;
  const row = rows?.[0] as { value?: unknown } | undefined;
  return typeof row?.value === 'string' ? row.value : '';
}
