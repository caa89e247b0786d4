/**
 * RabbitMQ over AMQP 0-9-1 (pgcdc's own publisher, decision 0015), on a confirm channel: `write` resolves
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
import type { OutboundRecord } from './outbound-record.ts';
import { withTimeout } from '../core/timeout.ts';
import { SinkError, type Sink, type SinkResult } from './sink.ts';
import { KeyRuns } from './key-runs.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { AmqpPublisher, parseAmqpUrl, type AmqpAddress } from './amqp-publisher.ts';
import {
  Property, beginContentHeader, beginTable, endFrame, endTable, fillContentHeaderBodySize, writeBody, writePublish, writeShortString,
  writeSingleFrameBody, writeStringField,
} from './amqp-frames.ts';

export interface RabbitMqSinkOptions {
  url: string;
  exchange: string;
  exchangeType: 'topic' | 'direct' | 'fanout' | 'headers';
  /** Declare the exchange (durable) when pgcdc starts. */
  declareExchange: boolean;
  mandatory: boolean;
  timeoutMs: number;
}

const CHANNEL = 1;
/** content-type, headers, delivery-mode and message-id are on every message; timestamp and type when the event has them. */
const ALWAYS = Property.contentType | Property.headers | Property.deliveryMode | Property.messageId;
/** Protocol bytes per message besides its value, its headers and names: enough that a run's buffer rarely grows. */
const FRAMING_ESTIMATE = 160;

export class RabbitMqSink implements Sink {
  readonly name: string;
  private readonly options: RabbitMqSinkOptions;
  private readonly address: AmqpAddress;
  private publisher: AmqpPublisher<OutboundRecord> | undefined;
  /** message ids the broker returned as unroutable during the current batch. */
  private returned = new Map<string, string>();
  /**
   * Records the broker confirmed in the attempt being written: if it fails, the
   * retry sends only the others. Re-sent, they would be queued twice (RabbitMQ
   * does not deduplicate), and a queue that is full because of them would nack
   * the retry again and again. A list, not a WeakSet entry per record: the
   * collector walks every WeakSet entry it keeps (ephemerons) on each
   * collection, and most attempts succeed, so the list is simply dropped.
   */
  private confirmedThisAttempt: OutboundRecord[] = [];
  /**
   * What failed attempts had confirmed, kept for their retry. The write after a
   * failed one is always its retry (this sink writes one at a time:
   * write-window.ts), so a write that succeeds lets them go.
   */
  private confirmedBefore: Set<OutboundRecord> | undefined;
  /** Why the broker returned a record (unroutable), kept with the record: a retry does not send it again, yet it must still be dead-lettered. */
  private readonly returnedRecords = new WeakMap<OutboundRecord, string>();
  /** Some record of the write being delivered (this attempt or a failed one before it) was returned. */
  private anyReturned = false;

  constructor(options: RabbitMqSinkOptions) {
    this.options = options;
    this.address = parseAmqpUrl(options.url);
    this.name = `rabbitmq ${this.address.host}:${this.address.port}`;
  }

  async open(): Promise<void> {
    const o = this.options;
    let publisher: AmqpPublisher<OutboundRecord>;
    try {
      publisher = await AmqpPublisher.open<OutboundRecord>(this.address, o.timeoutMs);
    } catch (error) {
      const reason = (error as Error).message;
      // Refused credentials or a vhost the user may not open repeat on every attempt.
      const refused = /ACCESS_REFUSED|NOT_ALLOWED|\b(403|530)\b/.test(reason);
      throw new SinkError(`cannot reach RabbitMQ at ${this.name.slice(9)}: ${reason}; check sink.url${refused ? ' (its user, password and vhost)' : ''} and that the broker is up`, { retriable: !refused, cause: error });
    }
    publisher.onAck = (record) => { this.confirmedThisAttempt.push(record); };
    publisher.onReturn = (messageId, routingKey) => {
      if (messageId !== undefined) this.returned.set(messageId, `unroutable: no queue is bound to exchange '${o.exchange}' for routing key '${routingKey}'`);
    };
    if (o.declareExchange && o.exchange !== '') {
      try {
        await publisher.declareExchange(o.exchange, o.exchangeType);
      } catch (error) {
        await publisher.close();
        throw new SinkError(`RabbitMQ refused exchange '${o.exchange}': ${(error as Error).message}; it may exist with another type, set sink.exchangeType to match or sink.declareExchange: false`, { retriable: false, cause: error });
      }
    }
    this.publisher = publisher;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    if (this.publisher === undefined || !this.publisher.open) await this.open();
    const publisher = this.publisher!;
    this.returned.clear();
    this.confirmedThisAttempt = [];
    const confirmedBefore = this.confirmedBefore;
    const runs = new KeyRuns();
    const rejected: SinkResult['rejected'] = [];
    let estimate = 0;
    for (const record of records) estimate += record.value.length + FRAMING_ESTIMATE;
    // A run of messages is encoded into one Buffer and written once; a repeated row ends the run (key-runs.ts).
    let out = new ByteWriter(estimate);
    try {
      for (const record of records) {
        // What the records not yet encoded need: a run's Buffer is sized for them, not the whole batch again.
        estimate -= record.value.length + FRAMING_ESTIMATE;
        if (confirmedBefore?.has(record) === true) continue;
        // AMQP routing keys are short strings: a longer topic (an outbox aggregate type) can never be published.
        if (record.topic.length > 85 && Buffer.byteLength(record.topic) > 255) {
          rejected.push({ record, reason: `the routing key '${record.topic.slice(0, 40)}…' is longer than AMQP's 255 bytes` });
          continue;
        }
        if (runs.add(record.topic, record.key)) {
          // This row is already in the unconfirmed run: everything before must be confirmed first.
          await publisher.send(out.finish());
          await this.confirmed(publisher);
          out = new ByteWriter(estimate + record.value.length + FRAMING_ESTIMATE);
        }
        this.encode(out, record, publisher.maxBodyPayload);
        publisher.track(record);
      }
      await publisher.send(out.finish());
      await this.confirmed(publisher);
    } catch (error) {
      this.keepReturned(records);
      // The channel may be half-dead (nacks, timeout): start over on a new connection.
      this.publisher = undefined;
      await publisher.close();
      // Closed: no more acks for this attempt; what it confirmed is not sent again.
      if (this.confirmedThisAttempt.length > 0) {
        this.confirmedBefore ??= new Set();
        for (const record of this.confirmedThisAttempt) this.confirmedBefore.add(record);
        this.confirmedThisAttempt = [];
      }
      const reason = (error as Error).message;
      // 403 (access refused) and 404 (no such exchange) repeat on every attempt: configuration, not events.
      const configuration = /\b(403|404)\b|ACCESS_REFUSED|NOT_FOUND/.test(reason);
      throw new SinkError(`RabbitMQ publish failed: ${reason}${configuration ? "; check the exchange (sink.exchange, sink.declareExchange) and the user's write permission on it; nothing was dead-lettered" : ''}`, { retriable: !configuration, cause: error });
    }
    this.keepReturned(records);
    this.confirmedThisAttempt = [];
    this.confirmedBefore = undefined;
    if (this.anyReturned) {
      for (const record of records) {
        const reason = this.returnedRecords.get(record);
        if (reason !== undefined) rejected.push({ record, reason });
      }
      this.anyReturned = false;
    }
    return { rejected };
  }

  /**
   * One message: basic.publish, its content header (persistent, message_id =
   * the event id, the commit time, the headers) and its body.
   */
  private encode(out: ByteWriter, record: OutboundRecord, maxBodyPayload: number): void {
    const o = this.options;
    writePublish(out, CHANNEL, o.exchange, record.topic, o.mandatory);
    // A body that fits one frame in any encoding is written without measuring it
    // first (Buffer.byteLength cost more than the copy: byte-writer.ts), and its
    // size is filled into the header afterwards.
    const oneFrame = record.value.length * 3 <= maxBodyPayload;
    const bodyBytes = oneFrame ? 0 : Buffer.byteLength(record.value);
    const tsMs = record.event.source.ts_ms;
    const type = record.headers.type;
    const header = beginContentHeader(out, CHANNEL, bodyBytes, ALWAYS | (tsMs !== null ? Property.timestamp : 0) | (type !== undefined ? Property.type : 0));
    writeShortString(out, 'application/json');
    const table = beginTable(out);
    for (const name in record.headers) {
      // CloudEvents' AMQP binding names attributes cloudEvents:<name>, not ce_<name>.
      writeStringField(out, name.startsWith('ce_') ? `cloudEvents:${name.slice(3)}` : name, record.headers[name]!);
    }
    if (record.key !== null) writeStringField(out, 'pgcdc-key', record.key);
    endTable(out, table);
    out.uint8(2); // delivery mode: persistent
    writeShortString(out, record.id);
    if (tsMs !== null) out.uint64(Math.floor(tsMs / 1000)); // AMQP timestamps are seconds
    if (type !== undefined) writeShortString(out, type);
    endFrame(out, header);
    if (oneFrame) fillContentHeaderBodySize(out, header, writeSingleFrameBody(out, CHANNEL, record.value));
    else writeBody(out, CHANNEL, record.value, bodyBytes, maxBodyPayload);
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

  private async confirmed(publisher: AmqpPublisher<OutboundRecord>): Promise<void> {
    const ms = this.options.timeoutMs;
    const late = `RabbitMQ did not confirm within ${ms} ms`;
    try {
      await withTimeout(publisher.waitForConfirms(), ms, late);
    } catch (error) {
      // The broker tells a blocked publisher why (connection.blocked) while the confirms wait: say it with the timeout.
      if ((error as Error).message === late && publisher.blocked !== undefined) throw new SinkError(`${late} (the broker blocked publishing: ${publisher.blocked})`, { retriable: true, cause: error });
      throw error;
    }
  }

  async close(): Promise<void> {
    const publisher = this.publisher;
    this.publisher = undefined;
    await publisher?.close();
  }
}
