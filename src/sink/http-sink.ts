/**
 * HTTP webhook: POSTs records in batches as a JSON array
 *   [{"id", "topic", "key", "headers", "value"}, ...]
 * with
 *   - `X-Pgcdc-Signature: sha256=<hex HMAC-SHA256 of the body>` when a secret is set,
 *   - `Idempotency-Key`: derived from the ids in the batch, so a re-delivery of the
 *     same events (after a crash or a retry) carries the same key.
 * 2xx confirms the batch. Network errors, timeouts, 5xx and 429 are retried by
 * the pipeline (honouring Retry-After); any other 4xx rejects the batch for good:
 * its records go to the dead-letter destination with the status and body.
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

export class HttpSink implements Sink {
  readonly name: string;
  private readonly options: HttpSinkOptions;

  constructor(options: HttpSinkOptions) {
    this.options = options;
    this.name = `http ${new URL(options.url).origin}`;
  }

  async open(): Promise<void> {}

  async write(records: OutboundRecord[]): Promise<SinkResult> {
    const rejected: SinkResult['rejected'] = [];
    for (let i = 0; i < records.length; i += this.options.batchSize) {
      const part = records.slice(i, i + this.options.batchSize);
      const refusal = await this.post(part);
      if (refusal !== undefined) for (const record of part) rejected.push({ record, reason: refusal });
    }
    return { rejected };
  }

  /** Returns undefined when accepted, a reason when refused for good; throws (retriable) otherwise. */
  private async post(records: OutboundRecord[]): Promise<string | undefined> {
    // The values are JSON text already: embed them rather than parse and re-serialise.
    const body = `[${records.map((r) => `{"id":${JSON.stringify(r.id)},"topic":${JSON.stringify(r.topic)},"key":${JSON.stringify(r.key)},"headers":${JSON.stringify(r.headers)},"value":${r.value}}`).join(',')}]`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'idempotency-key': createHash('sha256').update(records.map((r) => r.id).join(',')).digest('hex').slice(0, 32),
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
    return `HTTP ${response.status} from ${this.name}${text ? `: ${text.slice(0, 500)}` : ''}`;
  }

  async close(): Promise<void> {}
}
