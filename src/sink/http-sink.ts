/**
 * HTTP webhook: POSTs records in batches as a JSON array
 *   [{"id", "topic", "key", "headers", "value"}, ...]
 * with
 *   - `X-Pgcdc-Signature: sha256=<hex HMAC-SHA256 of the body>` when a secret is set,
 *   - `Idempotency-Key`: derived from the ids in the batch, so a re-delivery of the
 *     same events (after a crash or a retry) carries the same key.
 * 2xx confirms the batch. Network errors, timeouts, 5xx, 429 and 408 are retried
 * by the pipeline (honouring Retry-After). 401, 403, 407 (credentials) and 404,
 * 405, 415 (the endpoint) are configuration errors: they stop the pipeline and
 * dead-letter nothing. Any other 4xx refuses something in the batch: the batch
 * is split in halves until the refused records stand alone, and only they go to
 * the dead-letter destination, with the status and body; the others are sent.
 *
 * A write's chunks that the receiver already answered are remembered until the
 * write completes: when a later chunk fails and the pipeline retries the write,
 * they are not sent again.
 */
import { createHash, createHmac } from 'node:crypto';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink, type SinkResult } from './sink.ts';

export interface HttpSinkOptions {
  url: string;
  headers: Record<string, string>;
  secret: string | undefined;
  batchSize: number;
  timeoutMs: number;
}

/** Statuses that say the configuration is wrong, not an event: what to check. */
const CONFIGURATION_ERRORS: ReadonlyMap<number, string> = new Map([
  [401, "the receiver refuses pgcdc's credentials: check sink.headers and sink.secret"],
  [403, "the receiver refuses pgcdc's credentials: check sink.headers and sink.secret"],
  [407, 'a proxy wants credentials: check the proxy settings'],
  [404, 'no webhook at that address: check sink.url'],
  [405, 'the address does not take POST: check sink.url'],
  [415, 'the receiver does not take application/json: check sink.url'],
]);

/** Derived from the ids in the batch: a re-delivery of the same events carries the same key. */
function idempotencyKey(records: OutboundRecord[]): string {
  return createHash('sha256').update(records.map((r) => r.id).join(',')).digest('hex').slice(0, 32);
}

export class HttpSink implements Sink {
  readonly name: string;
  private readonly options: HttpSinkOptions;
  /**
   * What the receiver answered for batches of the write under way (by Idempotency-Key):
   * accepted (no refusals) or the records it refused for good. Cleared when a
   * write completes (and past 100,000 entries, which no write reaches).
   */
  private readonly answered = new Map<string, SinkResult['rejected']>();

  constructor(options: HttpSinkOptions) {
    this.options = options;
    this.name = `http ${new URL(options.url).origin}`;
  }

  async open(): Promise<void> {}

  async write(records: OutboundRecord[]): Promise<SinkResult> {
    const rejected: SinkResult['rejected'] = [];
    for (let i = 0; i < records.length; i += this.options.batchSize) {
      rejected.push(...await this.deliver(records.slice(i, i + this.options.batchSize)));
    }
    // The whole write is confirmed: the pipeline confirms it and never sends it again.
    this.answered.clear();
    return { rejected };
  }

  /** Posts a batch; a refusal of the whole POST is narrowed by halves down to the refused records. */
  private async deliver(records: OutboundRecord[]): Promise<SinkResult['rejected']> {
    const key = idempotencyKey(records);
    const known = this.answered.get(key);
    if (known !== undefined) return known;
    const refusal = await this.post(records, key);
    let refused: SinkResult['rejected'];
    if (refusal === undefined) refused = [];
    else if (records.length === 1) refused = [{ record: records[0]!, reason: refusal }];
    else {
      const half = Math.ceil(records.length / 2);
      refused = [...await this.deliver(records.slice(0, half)), ...await this.deliver(records.slice(half))];
    }
    if (this.answered.size > 100_000) this.answered.clear();
    this.answered.set(key, refused);
    return refused;
  }

  /** Returns undefined when accepted, a reason when refused for good; throws otherwise (retriable, or a configuration error). */
  private async post(records: OutboundRecord[], key: string): Promise<string | undefined> {
    // The values are JSON text already: embed them rather than parse and re-serialise.
    const body = `[${records.map((r) => `{"id":${JSON.stringify(r.id)},"topic":${JSON.stringify(r.topic)},"key":${JSON.stringify(r.key)},"headers":${JSON.stringify(r.headers)},"value":${r.value}}`).join(',')}]`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'idempotency-key': key,
      ...this.options.headers,
    };
    if (this.options.secret) headers['x-pgcdc-signature'] = `sha256=${createHmac('sha256', this.options.secret).update(body).digest('hex')}`;
    let response: Response;
    try {
      response = await fetch(this.options.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      throw new SinkError(`POST ${this.name} failed: ${(error as Error).message}`, { retriable: true, cause: error });
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return undefined;
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new SinkError(`POST ${this.name} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`, {
        retriable: true,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      });
    }
    const fix = CONFIGURATION_ERRORS.get(response.status);
    if (fix !== undefined) {
      // Every event would be refused alike: stop, rather than move the stream into dead letters.
      throw new SinkError(`POST ${this.name} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}; ${fix} (nothing was dead-lettered)`, { retriable: false });
    }
    return `HTTP ${response.status} from ${this.name}${text ? `: ${text.slice(0, 500)}` : ''}`;
  }

  async close(): Promise<void> {}
}
