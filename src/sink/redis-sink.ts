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
import type { Redis } from 'ioredis';
import { isLsnText, parseLsn } from '../core/lsn.ts';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink } from './sink.ts';

export interface RedisSinkOptions {
  url: string;
  /** Approximate cap on each stream's length (XADD MAXLEN ~), or undefined. */
  maxLen: number | undefined;
  timeoutMs: number;
}

/** `0/1A2B3C:4` → `27404092-4`; undefined when the id carries no LSN. */
export function streamEntryId(eventId: string): string | undefined {
  const colon = eventId.lastIndexOf(':');
  const lsn = eventId.slice(0, colon);
  if (colon < 0 || !isLsnText(lsn)) return undefined;
  return `${parseLsn(lsn)}-${eventId.slice(colon + 1)}`;
}

const DUPLICATE = /equal or smaller than the target stream top item/;

/** Redis errors that are configuration, with what to do. */
const REDIS_ADVICE: Array<[RegExp, string]> = [
  [/^NOPERM/, "; give the sink's user the XADD command and the stream keys (ACL SETUSER … +xadd ~…); nothing was dead-lettered"],
  [/^WRONGTYPE/, '; a key the sink writes holds another type: choose other topics (sink topic names) or remove that key; nothing was dead-lettered'],
  [/^ERR syntax/, '; nothing was dead-lettered'],
];

export class RedisSink implements Sink {
  readonly name: string;
  private readonly options: RedisSinkOptions;
  private client: Redis | undefined;
  /** Records Redis refused as already present (re-deliveries). */
  duplicates = 0;

  constructor(options: RedisSinkOptions) {
    this.options = options;
    const url = new URL(options.url);
    this.name = `redis ${url.hostname}:${url.port || 6379}`;
  }

  async open(): Promise<void> {
    // Loaded here, not at the top: `pgcdc run` builds only the sink it is given,
    // and every client loaded at start-up cost every pipeline its CPU.
    const { Redis } = await import('ioredis');
    this.client = new Redis(this.options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      commandTimeout: this.options.timeoutMs,
      connectTimeout: this.options.timeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    this.client.on('error', () => undefined); // surfaced by the commands that fail
    try {
      await this.client.connect();
    } catch (error) {
      throw new SinkError(`cannot reach Redis at ${this.name.slice(6)}: ${(error as Error).message}; check sink.url`, { retriable: true, cause: error });
    }
  }

  async write(records: OutboundRecord[]): Promise<void> {
    const client = this.client;
    if (client === undefined) throw new SinkError('Redis sink is not open', { retriable: true });
    if (records.length === 0) return;
    // MULTI/EXEC: a command Redis refuses while queueing (OOM, NOPERM) discards the
    // whole write. Without it, an entry refused for memory while a later one is
    // stored (memory freed in between) would be retried below the stream's top
    // entry id, refused as a "duplicate", and lost; and a row's versions could
    // land out of order. Duplicates of a re-delivery are refused at EXEC, one by one.
    const pipeline = client.multi();
    for (const record of records) {
      const fields = ['id', record.id, 'key', record.key ?? '', 'value', record.value];
      for (const [name, value] of Object.entries(record.headers)) fields.push(`h:${name}`, value);
      const cap = this.options.maxLen === undefined ? [] : ['MAXLEN', '~', String(this.options.maxLen)];
      pipeline.xadd(record.topic, ...cap, streamEntryId(record.id) ?? '*', ...fields);
    }
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      // EXECABORT names the refusal that discarded the write among its previous errors.
      const cause = (error as { previousErrors?: Error[] }).previousErrors?.[0] ?? (error as Error);
      throw redisError(cause);
    }
    for (const [error] of results ?? []) {
      if (error === null) continue;
      if (DUPLICATE.test(error.message)) { this.duplicates++; continue; }
      throw redisError(error);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    client.disconnect();
  }
}

/**
 * WRONGTYPE, NOPERM and similar will not fix themselves (configuration: the
 * pipeline stops, nothing is dead-lettered); connection trouble and OOM will.
 */
function redisError(error: Error): SinkError {
  const advice = REDIS_ADVICE.find(([pattern]) => pattern.test(error.message));
  return new SinkError(`Redis XADD failed: ${error.message}${advice?.[1] ?? ''}`, { retriable: advice === undefined, cause: error });
}
