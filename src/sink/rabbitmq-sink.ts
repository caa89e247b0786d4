/**
 * RabbitMQ over AMQP 0-9-1 with amqplib, on a confirm channel: `write` resolves
 * only when the broker has confirmed every message of the batch (for persistent
 * messages on durable queues, that means written to disk). Messages are
 * persistent, `message_id` = the event id (consumers deduplicate on it), the
 * routing key comes from a template (`{prefix}.{schema}.{table}` by default;
 * outbox records bring their own), the key travels as the `pgcdc-key` header.
 *
 * With `mandatory`, a message no queue is bound for comes back from the broker
 * (basic.return, always before its confirm) and goes to the dead-letter
 * destination instead of vanishing.
 *
 * A batch goes out in runs without a repeated row (key-runs.ts): a queue full
 * with `x-overflow: reject-publish` nacks some messages and, once a consumer
 * made room, confirms later ones; a row's later version must not be confirmed
 * before its nacked earlier one is retried.
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { OutboundRecord } from './outbound-record.ts';
import { withTimeout } from '../core/timeout.ts';
import { SinkError, type Sink, type SinkResult } from './sink.ts';
import { KeyRuns } from './key-runs.ts';
import { ByteWriter } from '../core/byte-writer.ts';

export interface RabbitMqSinkOptions {
  url: string;
  exchange: string;
  exchangeType: 'topic' | 'direct' | 'fanout' | 'headers';
  /** Declare the exchange (durable) when pgcdc starts. */
  declareExchange: boolean;
  mandatory: boolean;
  timeoutMs: number;
}

export class RabbitMqSink implements Sink {
  readonly name: string;
  private readonly options: RabbitMqSinkOptions;
  private connection: ChannelModel | undefined;
  private channelError: string | undefined;
  private channel: ConfirmChannel | undefined;
  /** message ids the broker returned as unroutable during the current batch. */
  private returned = new Map<string, string>();
  /**
   * Records the broker confirmed, kept while the pipeline may still retry their
   * write: a retry sends only the others. Re-sent, they would be queued twice
   * (RabbitMQ does not deduplicate), and a queue that is full because of them
   * would nack the retry again and again.
   */
  private readonly confirmedRecords = new WeakSet<OutboundRecord>();
  /** Why the broker returned a record (unroutable), kept with the record: a retry does not send it again, yet it must still be dead-lettered. */
  private readonly returnedRecords = new WeakMap<OutboundRecord, string>();
  /** Some record of the write being delivered (this attempt or a failed one before it) was returned. */
  private anyReturned = false;

  constructor(options: RabbitMqSinkOptions) {
    this.options = options;
    const url = new URL(options.url);
    this.name = `rabbitmq ${url.hostname}:${url.port || 5672}`;
  }

  async open(): Promise<void> {
    const o = this.options;
    // Loaded here, not at start-up: see redis-sink.ts.
    const amqp = (await import('amqplib')).default;
    let connection: ChannelModel;
    try {
      connection = await amqp.connect(o.url, { timeout: o.timeoutMs });
    } catch (error) {
      throw new SinkError(`cannot reach RabbitMQ at ${this.name.slice(9)}: ${(error as Error).message}; check sink.url and that the broker is up`, { retriable: !/ACCESS_REFUSED|403/i.test((error as Error).message), cause: error });
    }
    // A lost connection or channel is noticed here and repaired by the next write's reopen.
    const forget = () => { if (this.connection === connection) { this.connection = undefined; this.channel = undefined; } };
    connection.on('error', () => undefined);
    connection.on('close', forget);
    const channel = await connection.createConfirmChannel();
    // Why the broker closed the channel (a 403 or 404 for a publish): the write's failure says only "channel closed".
    channel.on('error', (error: Error) => { this.channelError = error.message; });
    channel.on('close', forget);
    channel.on('return', (message: ConsumeMessage) => {
      const id = message.properties.messageId as string | undefined;
      if (id !== undefined) this.returned.set(id, `unroutable: no queue is bound to exchange '${o.exchange}' for routing key '${message.fields.routingKey}'`);
    });
    this.channelError = undefined;
    if (o.declareExchange && o.exchange !== '') {
      try {
        await channel.assertExchange(o.exchange, o.exchangeType, { durable: true });
      } catch (error) {
        await connection.close().catch(() => undefined);
        throw new SinkError(`RabbitMQ refused exchange '${o.exchange}': ${(error as Error).message}; it may exist with another type, set sink.exchangeType to match or sink.declareExchange: false`, { retriable: false, cause: error });
      }
    }
    this.connection = connection;
    this.channel = channel;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    if (this.channel === undefined) await this.open();
    const channel = this.channel!;
    const o = this.options;
    this.returned.clear();
    const runs = new KeyRuns();
    // Every value encoded into one Buffer, each message a view of it: a Buffer.from per
    // message was an allocation and a native call per record.
    let estimate = 0;
    for (const record of records) estimate += record.value.length;
    const out = new ByteWriter(estimate);
    const ends = new Array<number>(records.length);
    for (let i = 0; i < records.length; i++) {
      out.utf8(records[i]!.value);
      ends[i] = out.length;
    }
    const bytes = out.finish();
    try {
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        if (this.confirmedRecords.has(record)) continue;
        // This row is already in the unconfirmed run: everything before must be confirmed first.
        if (runs.add(record.topic, record.key)) await this.confirmed(channel);
        const headers: Record<string, string> = {};
        for (const name in record.headers) {
          // CloudEvents' AMQP binding names attributes cloudEvents:<name>, not ce_<name>.
          headers[name.startsWith('ce_') ? `cloudEvents:${name.slice(3)}` : name] = record.headers[name]!;
        }
        if (record.key !== null) headers['pgcdc-key'] = record.key;
        const options: Options.Publish = { persistent: true, mandatory: o.mandatory, messageId: record.id, contentType: 'application/json', headers };
        if (record.event.source.ts_ms !== null) options.timestamp = Math.floor(record.event.source.ts_ms / 1000);
        if (record.headers.type !== undefined) options.type = record.headers.type;
        const value = bytes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!);
        const ok = channel.publish(o.exchange, record.topic, value, options, (error) => { if (error === null || error === undefined) this.confirmedRecords.add(record); });
        // The socket buffer is full: wait for it to drain rather than buffer without bound.
        if (!ok) await new Promise<void>((resolve) => channel.once('drain', resolve));
      }
      await this.confirmed(channel);
    } catch (error) {
      this.keepReturned(records);
      // The channel may be half-dead (nacks, timeout): start over on a new one.
      const connection = this.connection;
      this.connection = undefined;
      this.channel = undefined;
      await connection?.close().catch(() => undefined);
      const reason = this.channelError ?? (error as Error).message;
      this.channelError = undefined;
      // 403 (access refused) and 404 (no such exchange) repeat on every attempt: configuration, not events.
      const configuration = /\b(403|404)\b|ACCESS_REFUSED|NOT_FOUND/.test(reason);
      throw new SinkError(`RabbitMQ publish failed: ${reason}${configuration ? "; check the exchange (sink.exchange, sink.declareExchange) and the user's write permission on it; nothing was dead-lettered" : ''}`, { retriable: !configuration, cause: error });
    }
    this.keepReturned(records);
    const rejected: SinkResult['rejected'] = [];
    if (this.anyReturned) {
      for (const record of records) {
        const reason = this.returnedRecords.get(record);
        if (reason !== undefined) rejected.push({ record, reason });
      }
      this.anyReturned = false;
    }
    return { rejected };
  }

  /** The returns of this attempt, moved onto their records (a failed attempt's stay for the retry). */
  private keepReturned(records: OutboundRecord[]): void {
    if (this.returned.size === 0) return;
    for (const record of records) {
      const reason = this.returned.get(record.id);
      if (reason !== undefined) {
        this.returnedRecords.set(record, reason);
        this.anyReturned = true;
      }
    }
    this.returned.clear();
  }

  private async confirmed(channel: ConfirmChannel): Promise<void> {
    await withTimeout(channel.waitForConfirms(), this.options.timeoutMs, `RabbitMQ did not confirm within ${this.options.timeoutMs} ms`);
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    await connection?.close().catch(() => undefined);
  }
}
