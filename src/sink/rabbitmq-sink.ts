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
 *
 * Batches are encoded when they are prepared (`AmqpBatch`), as the file, NATS
 * and Redis sinks do: the records are not kept while they wait for the write
 * and its confirms, except with `mandatory`, which needs them to dead-letter
 * what the broker returns.
 */
import type { OutboundRecord } from './outbound-record.ts';
import { withTimeout } from '../core/timeout.ts';
import { SinkError, type EncodedBatch, type EncodingSink, type SinkResult } from './sink.ts';
import { KeyRuns, keysOverlap } from './key-runs.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { AmqpPublisher, parseAmqpUrl, type AmqpAddress } from './amqp-publisher.ts';
import {
  FRAME_OVERHEAD, Property, beginContentHeader, beginTable, endFrame, endTable, fillContentHeaderBodySize, writeBody, writePublish, writeShortString,
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
/** Protocol bytes per message besides its value, its headers and names: enough that a batch's buffer rarely grows. */
const FRAMING_ESTIMATE = 160;
const EMPTY = Buffer.alloc(0);

/**
 * A batch encoded as AMQP frames when it was prepared (sink.ts, `EncodedBatch`):
 * records that waited as objects for the broker's confirms (RabbitMQ takes
 * 10,000-20,000 a second here) were promoted by the collector. What a write and
 * its retry need is kept beside the bytes, as numbers.
 */
export interface AmqpBatch extends EncodedBatch {
  /** Where each message ends in `bytes`. */
  readonly ends: Uint32Array;
  /** Messages a failed attempt saw confirmed (1): the retry does not send them again. */
  readonly confirmed: Uint8Array;
  /** Where a run ends and the next begins, when a row repeats in the batch (key-runs.ts): message indexes. */
  readonly runStarts: readonly number[];
  readonly firstRunKeys: ReadonlySet<number>;
  readonly lastRunKeys: ReadonlySet<number>;
  /** The largest body frame in it: a connection with a smaller frame size cannot take the batch. */
  readonly largestBodyFrame: number;
  /** With `mandatory` only: the records, to dead-letter those the broker returns. */
  readonly records: readonly OutboundRecord[] | undefined;
  /** Records refused while encoding, then those returned as unroutable (each pushed once). */
  readonly rejected: SinkResult['rejected'];
  /** Ids of the returned records already in `rejected`: a message returned, then sent again after a failure, is returned twice. */
  returnedIds: Set<string> | undefined;
}

export class RabbitMqSink implements EncodingSink<AmqpBatch> {
  readonly name: string;
  private readonly options: RabbitMqSinkOptions;
  private readonly address: AmqpAddress;
  private publisher: AmqpPublisher<number> | undefined;
  private opened = false;
  /** The frame size of the last connection: batches are encoded for it. */
  private maxBodyPayload: number;
  /** message ids the broker returned as unroutable during the current attempt, with why. */
  private returned = new Map<string, string>();
  /**
   * The messages of the attempt being written, by the token each was tracked
   * with (its place in the attempt's batches), 1 once confirmed: if the attempt
   * fails, the retry sends only the others. Re-sent, they would be queued twice
   * (RabbitMQ does not deduplicate), and a queue that is full because of them
   * would nack the retry again and again.
   */
  private acked: Uint8Array = new Uint8Array(0);

  constructor(options: RabbitMqSinkOptions) {
    this.options = options;
    this.address = parseAmqpUrl(options.url);
    this.name = `rabbitmq ${this.address.host}:${this.address.port}`;
    this.maxBodyPayload = this.address.frameMax - FRAME_OVERHEAD;
  }

  async open(): Promise<void> {
    await this.connect();
    this.opened = true;
  }

  private async connect(): Promise<AmqpPublisher<number>> {
    const o = this.options;
    let publisher: AmqpPublisher<number>;
    try {
      publisher = await AmqpPublisher.open<number>(this.address, o.timeoutMs);
    } catch (error) {
      const reason = (error as Error).message;
      // Refused credentials or a vhost the user may not open repeat on every attempt.
      const refused = /ACCESS_REFUSED|NOT_ALLOWED|\b(403|530)\b/.test(reason);
      throw new SinkError(`cannot reach RabbitMQ at ${this.name.slice(9)}: ${reason}; check sink.url${refused ? ' (its user, password and vhost)' : ''} and that the broker is up`, { retriable: !refused, cause: error });
    }
    publisher.onAck = (token) => { this.acked[token] = 1; };
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
    this.maxBodyPayload = publisher.maxBodyPayload;
    this.publisher = publisher;
    return publisher;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    const batch = this.encode(records);
    await this.writeEncoded([batch]);
    return { rejected: batch.rejected };
  }

  /** Each record's frames (basic.publish, content header, body), one after another in one Buffer. */
  encode(records: OutboundRecord[]): AmqpBatch {
    const rejected: SinkResult['rejected'] = [];
    let estimate = 0;
    for (const record of records) estimate += record.value.length + FRAMING_ESTIMATE;
    const out = new ByteWriter(estimate, { pooled: true });
    const ends = new Uint32Array(records.length);
    const runs = new KeyRuns();
    const runStarts: number[] = [];
    const maxBodyPayload = this.maxBodyPayload;
    let largestBodyFrame = 0;
    let count = 0;
    for (const record of records) {
      // AMQP routing keys are short strings: a longer topic (an outbox aggregate type) can never be published.
      if (record.topic.length > 85 && Buffer.byteLength(record.topic) > 255) {
        rejected.push({ record, reason: `the routing key '${record.topic.slice(0, 40)}…' is longer than AMQP's 255 bytes` });
        continue;
      }
      if (runs.add(record.topic, record.key)) runStarts.push(count);
      const body = this.encodeMessage(out, record, maxBodyPayload);
      if (body > largestBodyFrame) largestBodyFrame = body;
      ends[count++] = out.length;
    }
    return {
      bytes: count > 0 ? out.finish() : EMPTY, count, rejected, ends: ends.subarray(0, count), confirmed: new Uint8Array(count),
      runStarts, firstRunKeys: runs.firstKeys, lastRunKeys: runs.lastKeys, largestBodyFrame,
      records: this.options.mandatory ? records : undefined, returnedIds: undefined,
    };
  }

  async writeEncoded(batches: AmqpBatch[]): Promise<void> {
    if (!this.opened) throw new SinkError('RabbitMQ sink is not open', { retriable: true });
    let total = 0;
    for (const batch of batches) total += batch.count;
    if (total === 0) return;
    const publisher = this.publisher?.open === true ? this.publisher : await this.connect();
    this.returned.clear();
    this.acked = new Uint8Array(total);
    try {
      let token = 0;
      // Rows sent and not yet confirmed (key-runs.ts): a run that repeats one waits for the confirms.
      const unconfirmed = new Set<number>();
      for (const batch of batches) {
        if (batch.largestBodyFrame > publisher.maxBodyPayload) {
          throw new SinkError(`RabbitMQ now takes frames of at most ${publisher.maxBodyPayload} bytes, fewer than when these messages were encoded (${batch.largestBodyFrame}): its frame_max was lowered; restart pgcdc to encode them again; nothing was dead-lettered`, { retriable: false });
        }
        for (let run = 0; run <= batch.runStarts.length; run++) {
          const first = run === 0 ? 0 : batch.runStarts[run - 1]!;
          const end = run < batch.runStarts.length ? batch.runStarts[run]! : batch.count;
          if (run > 0 || keysOverlap(unconfirmed, batch.firstRunKeys)) {
            // This run repeats a row not yet confirmed: everything before must be confirmed first.
            await this.confirmed(publisher);
            unconfirmed.clear();
          }
          await this.sendRun(publisher, batch, first, end, token);
        }
        for (const key of batch.lastRunKeys) unconfirmed.add(key);
        token += batch.count;
      }
      await this.confirmed(publisher);
    } catch (error) {
      // The channel may be half-dead (nacks, timeout): start over on a new connection.
      this.publisher = undefined;
      await publisher.close();
      // Closed: no more acks for this attempt; what it confirmed is not sent again.
      this.keepConfirmed(batches);
      this.keepReturned(batches);
      if (error instanceof SinkError && !error.retriable) throw error;
      const reason = (error as Error).message;
      // 403 (access refused) and 404 (no such exchange) repeat on every attempt: configuration, not events.
      const configuration = /\b(403|404)\b|ACCESS_REFUSED|NOT_FOUND/.test(reason);
      throw new SinkError(`RabbitMQ publish failed: ${reason}${configuration ? "; check the exchange (sink.exchange, sink.declareExchange) and the user's write permission on it; nothing was dead-lettered" : ''}`, { retriable: !configuration, cause: error });
    }
    this.keepReturned(batches);
  }

  /**
   * Messages first..end of a batch, tracked with tokens from `base + index`.
   * Those an earlier attempt saw confirmed are left out (only after a failure).
   */
  private async sendRun(publisher: AmqpPublisher<number>, batch: AmqpBatch, first: number, end: number, base: number): Promise<void> {
    let from = first;
    for (let i = first; i <= end; i++) {
      if (i < end && batch.confirmed[i] === 0) {
        publisher.track(base + i);
        continue;
      }
      // A stretch of messages to send ends here (at a confirmed one, or the run's end).
      if (i > from) await publisher.send(batch.bytes.subarray(from === 0 ? 0 : batch.ends[from - 1]!, batch.ends[i - 1]!));
      from = i + 1;
    }
  }

  /** A failed attempt's confirms, kept on its batches for the retry. */
  private keepConfirmed(batches: AmqpBatch[]): void {
    let token = 0;
    for (const batch of batches) {
      for (let i = 0; i < batch.count; i++) if (this.acked[token + i] === 1) batch.confirmed[i] = 1;
      token += batch.count;
    }
    this.acked = new Uint8Array(0);
  }

  /** The returns of this attempt, moved onto their batches' dead letters (once each; a failed attempt's stay for the retry). */
  private keepReturned(batches: AmqpBatch[]): void {
    if (this.returned.size === 0) return;
    for (const batch of batches) {
      const records = batch.records;
      if (records === undefined) continue;
      // A record refused while encoding was never sent, so it cannot be among the returned.
      for (const record of records) {
        const reason = this.returned.get(record.id);
        if (reason === undefined || batch.returnedIds?.has(record.id) === true) continue;
        (batch.returnedIds ??= new Set()).add(record.id);
        batch.rejected.push({ record, reason });
      }
    }
    this.returned.clear();
  }

  /**
   * One message: basic.publish, its content header (persistent, message_id =
   * the event id, the commit time, the headers) and its body.
   */
  private encodeMessage(out: ByteWriter, record: OutboundRecord, maxBodyPayload: number): number {
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
    if (oneFrame) {
      const written = writeSingleFrameBody(out, CHANNEL, record.value);
      fillContentHeaderBodySize(out, header, written);
      return written;
    }
    writeBody(out, CHANNEL, record.value, bodyBytes, maxBodyPayload);
    return Math.min(bodyBytes, maxBodyPayload);
  }

  private async confirmed(publisher: AmqpPublisher<number>): Promise<void> {
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
    this.opened = false;
    const publisher = this.publisher;
    this.publisher = undefined;
    await publisher?.close();
  }
}
