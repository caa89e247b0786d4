/**
 * Redis Streams: XADD per record to the stream named by the key template, with an
 * explicit entry ID built from the event's position in the WAL:
 * `<commit LSN>-<position in the transaction>` (`<message LSN>-0` for
 * non-transactional messages). IDs therefore grow with the WAL, per stream, and a
 * re-delivered record (after a crash or a retried batch) is refused by Redis as
 * "equal or smaller than the top item": counted as a duplicate, not added twice.
 * Fields: id, key, value, and each header as `h:<name>`. Events whose id carries
 * no LSN (text plugins without LSNs) get Redis-assigned IDs (`*`).
 */
import { ByteWriter } from '../core/byte-writer.ts';
import { isLsnText, parseLsn } from '../core/lsn.ts';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type EncodedBatch, type EncodingSink } from './sink.ts';
import { parseRedisUrl, RedisConnection, type RedisAddress } from './redis-connection.ts';
import { RespError, writeArrayHeader, writeBulk, type RespReply } from './resp.ts';

export interface RedisSinkOptions {
  url: string;
  /** Approximate cap on each stream's length (XADD MAXLEN ~), or undefined. */
  maxLen: number | undefined;
  timeoutMs: number;
}

/** `0/1A2B3C:4` → `27404092-4`; undefined when the id carries no LSN. */
export function streamEntryId(eventId: string): string | undefined {
  const colon = eventId.lastIndexOf(':');
  if (colon < 0) return undefined;
  const lsn = eventId.slice(0, colon);
  // The events of a transaction share its commit LSN: parsed once, not per record
  // (a regular expression and two BigInts per record were 2.8% of `pgcdc run` → Redis).
  if (lsn !== lastLsnText) {
    if (!isLsnText(lsn)) return undefined;
    lastLsnText = lsn;
    lastLsnDecimal = String(parseLsn(lsn));
  }
  return `${lastLsnDecimal}-${eventId.slice(colon + 1)}`;
}

let lastLsnText = '';
let lastLsnDecimal = '';

const DUPLICATE = /equal or smaller than the target stream top item/;

/** Redis errors that are configuration, with what to do. */
const REDIS_ADVICE: Array<[RegExp, string]> = [
  [/^NOPERM/, "; give the sink's user the XADD command and the stream keys (ACL SETUSER … +xadd ~…); nothing was dead-lettered"],
  [/^WRONGTYPE/, '; a key the sink writes holds another type: choose other topics (sink topic names) or remove that key; nothing was dead-lettered'],
  [/^ERR syntax/, '; nothing was dead-lettered'],
  [/^(NOAUTH|WRONGPASS)/, "; put the sink's user and password in sink.url (redis://user:password@host:6379); nothing was dead-lettered"],
];

const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
const EXEC = Buffer.from('*1\r\n$4\r\nEXEC\r\n');
const EMPTY = Buffer.alloc(0);

function bulkBytes(text: string): Buffer {
  const out = new ByteWriter(text.length * 3 + 16);
  writeBulk(out, text);
  return out.finish();
}
const XADD = bulkBytes('XADD');
const ID_FIELD = bulkBytes('id');
const KEY_FIELD = bulkBytes('key');
const VALUE_FIELD = bulkBytes('value');

export class RedisSink implements EncodingSink {
  readonly name: string;
  private readonly options: RedisSinkOptions;
  private readonly address: RedisAddress;
  private connection: RedisConnection | undefined;
  private connecting: Promise<RedisConnection> | undefined;
  private opened = false;
  /** Records Redis refused as already present (re-deliveries). */
  duplicates = 0;
  /** `MAXLEN ~ <cap>` as bytes, encoded once (sink.maxLen), or undefined. */
  private readonly maxLenWords: Buffer | undefined;
  private readonly topicBulks = new Map<string, Buffer>();
  private lastTopic: string | undefined;
  private lastTopicBulk: Buffer = EMPTY;

  constructor(options: RedisSinkOptions) {
    this.options = options;
    this.maxLenWords = options.maxLen === undefined ? undefined : Buffer.concat([bulkBytes('MAXLEN'), bulkBytes('~'), bulkBytes(String(options.maxLen))]);
    this.address = parseRedisUrl(options.url);
    this.name = `redis ${this.address.host}:${this.address.port}`;
  }

  async open(): Promise<void> {
    this.opened = true;
    await this.connected();
  }

  /** The connection, opened again when it was lost (a write after an outage connects anew). */
  private async connected(): Promise<RedisConnection> {
    if (this.connection?.open) return this.connection;
    this.connecting ??= RedisConnection.open(this.address, this.options.timeoutMs).then(
      (connection) => { this.connection = connection; return connection; },
      (error: unknown) => { throw connectError(error as Error, this.name.slice(6)); },
    ).finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  async write(records: OutboundRecord[]): Promise<void> {
    await this.writeEncoded([this.encode(records)]);
  }

  /**
   * A batch's XADD commands, encoded as soon as the batch is prepared (sink.ts,
   * `EncodedBatch`): records that waited as objects for the write before them
   * were copied and promoted by the collector, and garbage collection took 17.6%
   * of `pgcdc run` → Redis's profile (8.6% since; 5-8% in `tail`). Redis refuses
   * nothing record by record here (see writeEncoded).
   */
  encode(records: OutboundRecord[]): EncodedBatch {
    let estimate = 0;
    for (const record of records) estimate += record.value.length + record.id.length * 2 + (record.key?.length ?? 0) + 160;
    const out = new ByteWriter(estimate, { pooled: true });
    const cap = this.maxLenWords;
    for (const record of records) {
      let headers = 0;
      for (const _ in record.headers) headers++;
      writeArrayHeader(out, 9 + (cap === undefined ? 0 : 3) + headers * 2);
      // The words every XADD repeats, and the stream's name, are copied as bytes
      // encoded once: measuring and encoding each of them per record was 1.8%
      // of `pgcdc run` → Redis's profile.
      out.bytes(XADD);
      out.bytes(this.topicBulk(record.topic));
      if (cap !== undefined) out.bytes(cap);
      writeBulk(out, streamEntryId(record.id) ?? '*');
      out.bytes(ID_FIELD); writeBulk(out, record.id);
      out.bytes(KEY_FIELD); writeBulk(out, record.key ?? '');
      out.bytes(VALUE_FIELD); writeBulk(out, record.value);
      for (const name in record.headers) { writeBulk(out, `h:${name}`); writeBulk(out, record.headers[name]!); }
    }
    return { bytes: records.length > 0 ? out.finish() : EMPTY, count: records.length, rejected: [] };
  }

  /** `$<length>\r\n<topic>\r\n`, encoded once per stream name. */
  private topicBulk(topic: string): Buffer {
    if (topic === this.lastTopic) return this.lastTopicBulk;
    let bulk = this.topicBulks.get(topic);
    if (bulk === undefined) {
      bulk = bulkBytes(topic);
      // Outbox topics come from the data: the cache is a convenience, not a registry of every name seen.
      if (this.topicBulks.size >= 1024) this.topicBulks.clear();
      this.topicBulks.set(topic, bulk);
    }
    this.lastTopic = topic;
    this.lastTopicBulk = bulk;
    return bulk;
  }

  async writeEncoded(batches: EncodedBatch[]): Promise<void> {
    if (!this.opened) throw new SinkError('Redis sink is not open', { retriable: true });
    let count = 0;
    for (const batch of batches) count += batch.count;
    if (count === 0) return;
    const connection = await this.connected();
    // MULTI/EXEC: a command Redis refuses while queueing (OOM, NOPERM) discards the
    // whole write. Without it, an entry refused for memory while a later one is
    // stored (memory freed in between) would be retried below the stream's top
    // entry id, refused as a "duplicate", and lost; and a row's versions could
    // land out of order. Duplicates of a re-delivery are refused at EXEC, one by one.
    // The group's batches as they are, sent together: joining them copied every
    // byte once more (1.9% of `pgcdc run` → Redis's profile).
    const pieces = [MULTI, ...batches.map((b) => b.bytes), EXEC];
    let replies: RespReply[];
    try {
      replies = await connection.send(pieces, count + 2);
    } catch (error) {
      throw new SinkError(`Redis XADD failed: ${(error as Error).message}; retrying`, { retriable: true, cause: error });
    }
    if (replies[0] instanceof RespError) throw redisError(replies[0]);
    const results = replies[replies.length - 1]!;
    if (results instanceof RespError) {
      // EXECABORT: the refusal that discarded the write is among the replies to the queued commands.
      const refusal = replies.slice(1, -1).find((reply) => reply instanceof RespError);
      throw redisError(refusal instanceof RespError ? refusal : results);
    }
    if (!Array.isArray(results)) throw new SinkError(`Redis EXEC answered ${JSON.stringify(results)}, not the results of the write; retrying`, { retriable: true });
    for (const result of results) {
      if (!(result instanceof RespError)) continue;
      if (DUPLICATE.test(result.message)) { this.duplicates++; continue; }
      throw redisError(result);
    }
  }

  async close(): Promise<void> {
    this.opened = false;
    const connection = this.connection ?? await this.connecting?.catch(() => undefined);
    this.connection = undefined;
    connection?.close();
  }
}

/** Connecting failed: credentials Redis refused will not fix themselves; an unreachable server may. */
function connectError(error: Error, where: string): SinkError {
  const refused = /^(WRONGPASS|NOAUTH|NOPERM|ERR)/.test(error.message);
  return new SinkError(`cannot reach Redis at ${where}: ${error.message}; check sink.url${refused ? ' (its user, password and database)' : ''}`, { retriable: !refused, cause: error });
}

/**
 * WRONGTYPE, NOPERM and similar will not fix themselves (configuration: the
 * pipeline stops, nothing is dead-lettered); connection trouble and OOM will.
 */
function redisError(error: RespError): SinkError {
  const advice = REDIS_ADVICE.find(([pattern]) => pattern.test(error.message));
  return new SinkError(`Redis XADD failed: ${error.message}${advice?.[1] ?? ''}`, { retriable: advice === undefined, cause: error });
}
