/**
 * NATS JetStream: one publish per record to its subject, with `Nats-Msg-Id` =
 * the event id, so JetStream drops a re-delivered record inside the stream's
 * duplicate window. `write` resolves when every publish of the batch has its
 * PubAck.
 *
 * Hot path written by hand (docs/benchmarks.md):
 * - `js.publish()` of @nats-io/jetstream costs about 80 µs of CPU per record in
 *   Node (a request object, a timer and a promise each) and capped the sink near
 *   10,000 records/s. Here records go out as plain publishes on one connection,
 *   in order, with a reply subject per batch under one inbox subscription that
 *   counts the PubAcks.
 * - Each batch's HPUB frames (NATS client protocol: `HPUB subject reply hdr_len
 *   total_len`, headers, payload) are encoded into one Buffer when the batch is
 *   prepared (sink.ts: `EncodedBatch`), and sent as one socket write on a
 *   connection of pgcdc's own (nats-publisher.ts says why).
 * The official client is still used for what is not hot: stream lookup and creation.
 */
import { randomBytes } from 'node:crypto';
import type { OutboundRecord } from './outbound-record.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { NatsPublisher, type InboundMessage } from './nats-publisher.ts';
import { KeyRuns, keysOverlap } from './key-runs.ts';
import { confirmations, pendingWrite, readPubAck, type PendingWrite } from './nats-pending-write.ts';
import { hex8, invalidHeaders, invalidSubject, parseHex } from './nats-frames.ts';
import { SinkError, type EncodedBatch, type EncodingSink, type SinkResult } from './sink.ts';

export interface NatsSinkOptions {
  servers: string[];
  /** Create this stream (capturing `{prefix}.>`) if it does not exist. */
  stream: string | undefined;
  streamSubjects: string[];
  timeoutMs: number;
  user?: string;
  password?: string;
  token?: string;
}

/**
 * A batch encoded as HPUB frames when it was prepared (sink.ts says why). All
 * its records share one reply subject, `<inbox>.<token>`, and each publish is
 * answered by exactly one PubAck there, so `count` PubAcks on the token mean
 * every record of the batch is stored. A retry sends the batch under a new token
 * (`retoken`): a PubAck that arrives late, from the earlier attempt, is then
 * ignored instead of being counted for a record of the retry that may not be
 * stored yet. (A reply subject per record would do the same, but nats-server
 * caches the routing of a subject it has seen, and a new subject per record
 * costs it about 2 µs more per message: docs/benchmarks.md.)
 */
export interface NatsBatch extends EncodedBatch {
  bytes: Buffer;
  /** The reply token of the latest attempt. */
  token: number;
  /** Where the token's 8 hex digits are in `bytes`, one per record. */
  readonly tokenOffsets: Uint32Array;
  /** Sent at least once: the next write sends it under a new token. */
  sent: boolean;
  /**
   * Where a run ends and the next begins, when a row repeats in the batch
   * (key-runs.ts): byte offsets in `bytes` and the records before them. Empty
   * for one run.
   */
  readonly runStarts: ReadonlyArray<{ offset: number; records: number }>;
  readonly firstRunKeys: ReadonlySet<number>;
  readonly lastRunKeys: ReadonlySet<number>;
}

const EMPTY = Buffer.alloc(0);
/** Digits reserved for the header and total lengths of a frame (max_payload is at most 64 MB). */
const LENGTH_DIGITS = 8;
const TOPIC_CACHE_LIMIT = 10_000;

export class NatsSink implements EncodingSink<NatsBatch> {
  readonly name: string;
  private readonly options: NatsSinkOptions;
  private readonly publisher: NatsPublisher;
  private opened = false;
  /** A write found no stream for its subject: create the configured stream before the next one. */
  private streamMissing = false;
  private maxPayload = 1024 * 1024;
  /**
   * `<inbox>.`: the reply subjects' common part (the same across reconnects),
   * unique to this sink as the official client's inboxes are (`_INBOX.` and
   * random characters; made here so that the client loads only when needed).
   */
  private readonly replyPrefix = `_INBOX.${randomBytes(12).toString('hex')}.`;
  private nextToken = 0;
  /** The writes in progress, by each reply token they await. */
  private readonly pendingByToken = new Map<number, PendingWrite>();
  /** The write started last: a write that `follows` it is not sent if it failed. */
  private lastWrite: PendingWrite | undefined;
  /**
   * Two writes in flight: the next group goes out while the current one's
   * PubAcks are on their way back, so a server some milliseconds away does not
   * add its round trip to every change's latency
   * (docs/decisions/0007-pipelined-sink-writes.md). Writes go out in call order
   * on one connection, and what the server stored of them is a prefix.
   */
  readonly maxWritesInFlight = 2;
  /** Per topic: the frame's start up to the reply token (`HPUB <subject> <inbox>.`), or why the subject is refused. */
  private readonly topicPrefixes = new Map<string, Buffer | { reason: string }>();
  private readonly decoder = new TextDecoder();

  constructor(options: NatsSinkOptions) {
    this.options = options;
    this.name = `nats ${options.servers.join(',')}`;
    this.publisher = new NatsPublisher({
      servers: options.servers,
      timeoutMs: options.timeoutMs,
      ...(options.user ? { user: options.user, password: options.password ?? '' } : {}),
      ...(options.token ? { token: options.token } : {}),
    });
    this.publisher.onMessage = (message) => this.onPubAck(message);
    this.publisher.onClose = (reason) => this.onConnectionLost(reason);
    this.publisher.onPermissionDenied = (text) => this.onPermissionDenied(text);
  }

  async open(): Promise<void> {
    await this.connect();
    if (this.options.stream) await this.ensureStream();
    this.opened = true;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    const batch = this.encode(records);
    await this.writeEncoded([batch]);
    return { rejected: batch.rejected };
  }

  encode(records: OutboundRecord[]): NatsBatch {
    const token = this.takeToken();
    const rejected: SinkResult['rejected'] = [];
    let estimate = 0;
    for (const record of records) estimate += record.value.length + record.topic.length + record.id.length + (record.key?.length ?? 0) + 120;
    const out = new ByteWriter(estimate, { pooled: true });
    const tokenOffsets = new Uint32Array(records.length);
    const tokenHex = hex8(token);
    const runs = new KeyRuns();
    const runStarts: Array<{ offset: number; records: number }> = [];
    let count = 0;
    // HPUB <subject> <reply> <header bytes> <total bytes>\r\n<header block><payload>\r\n
    for (const record of records) {
      const prefix = this.topicPrefix(record.topic);
      const problem = 'reason' in prefix ? prefix.reason : invalidHeaders(record);
      if (problem !== undefined) { rejected.push({ record, reason: problem }); continue; }
      const start = out.length;
      out.bytes(prefix as Buffer);
      tokenOffsets[count] = out.length;
      out.ascii(tokenHex);
      out.ascii(' ');
      const headerLengthAt = out.reserveNumber(LENGTH_DIGITS);
      out.ascii(' ');
      const totalLengthAt = out.reserveNumber(LENGTH_DIGITS);
      out.ascii('\r\n');
      const headerStart = out.length;
      out.ascii('NATS/1.0\r\nNats-Msg-Id: ');
      out.utf8(record.id);
      out.ascii('\r\n');
      for (const name in record.headers) {
        out.ascii(name); // checked: printable ASCII
        out.ascii(': ');
        out.utf8(record.headers[name]!);
        out.ascii('\r\n');
      }
      if (record.key !== null) {
        out.ascii('Pgcdc-Key: ');
        out.utf8(record.key);
        out.ascii('\r\n');
      }
      out.ascii('\r\n');
      const headerBytes = out.length - headerStart;
      const total = headerBytes + out.utf8(record.value);
      if (total > this.maxPayload) {
        out.truncate(start);
        rejected.push({ record, reason: `record of ${total} bytes exceeds the NATS server's max_payload (${this.maxPayload} bytes)` });
        continue;
      }
      out.fillNumber(headerLengthAt, LENGTH_DIGITS, headerBytes);
      out.fillNumber(totalLengthAt, LENGTH_DIGITS, total);
      out.ascii('\r\n');
      if (runs.add(record.topic, record.key)) runStarts.push({ offset: start, records: count });
      count++;
    }
    const bytes = count > 0 ? out.finish() : EMPTY;
    return {
      bytes, count, rejected, token, tokenOffsets: tokenOffsets.subarray(0, count), sent: false,
      runStarts, firstRunKeys: runs.firstKeys, lastRunKeys: runs.lastKeys,
    };
  }

  async writeEncoded(batches: NatsBatch[], options: { follows?: boolean } = {}): Promise<void> {
    if (!this.opened) throw new SinkError('NATS sink is not open', { retriable: true });
    const sending = batches.filter((b) => b.count > 0);
    if (sending.length === 0) return;
    const previous = options.follows ? this.lastWrite : undefined;
    const pending = pendingWrite();
    // Marked before the first await: a write that follows this one waits for it
    // (or is refused if it fails) instead of going out ahead of it.
    this.lastWrite = pending;
    try {
      await this.send(sending, pending, previous);
    } finally {
      for (const token of pending.remaining.keys()) this.pendingByToken.delete(token);
      pending.finish();
    }
  }

  /**
   * Sends a write's runs in order, each once the records before it (this
   * write's, and the unconfirmed end of the write it follows, where they share a
   * row) are confirmed, then awaits the last PubAcks.
   */
  private async send(sending: NatsBatch[], pending: PendingWrite, previous: PendingWrite | undefined): Promise<void> {
    if (previous !== undefined && !previous.ended && (!previous.allSent || keysOverlap(previous.unconfirmedKeys, sending[0]!.firstRunKeys))) {
      await previous.end;
    }
    if (previous?.failure !== undefined) {
      // Sent now, these records would be stored before the earlier write's
      // retry. A write that follows this one is refused in turn.
      pending.failure = 'not sent';
      throw new SinkError('NATS publish not attempted: the write before it failed; it goes first', { retriable: true });
    }
    try {
      if (!this.publisher.connected) await this.connect();
      if (this.streamMissing && this.options.stream) await this.ensureStream();
    } catch (error) {
      pending.failure = (error as Error).message;
      throw error;
    }
    for (const b of sending) {
      if (b.sent) this.retoken(b);
      b.sent = true;
      pending.remaining.set(b.token, b.count);
      this.pendingByToken.set(b.token, pending);
    }
    let sent = 0;
    // Keys sent by this write and not yet confirmed: what a later run must not repeat unwaited.
    const unconfirmed = pending.unconfirmedKeys;
    sending: for (const b of sending) {
      let offset = 0;
      let records = 0;
      for (let run = 0; run <= b.runStarts.length; run++) {
        const end = run < b.runStarts.length ? b.runStarts[run]! : { offset: b.bytes.length, records: b.count };
        // A batch's first run is held back only where it repeats an unconfirmed row, of this write or of the one before it.
        const holdBack = run > 0 || keysOverlap(unconfirmed, b.firstRunKeys)
          || (previous !== undefined && !previous.ended && keysOverlap(previous.unconfirmedKeys, b.firstRunKeys));
        if (holdBack) {
          // A row repeats: what went before must be confirmed first (key-runs.ts).
          if (previous !== undefined && !previous.ended) await previous.end;
          if (previous?.failure !== undefined) { pending.failure ??= 'the write before it failed'; break sending; }
          await confirmations(pending, sent, this.options.timeoutMs);
          if (pending.failure !== undefined) break sending;
          unconfirmed.clear();
        }
        pending.waiting += end.records - records;
        if (!this.publisher.send(offset === 0 && end.offset === b.bytes.length ? b.bytes : b.bytes.subarray(offset, end.offset))) {
          pending.failure ??= 'the connection to NATS was lost';
          break sending;
        }
        sent += end.records - records;
        offset = end.offset;
        records = end.records;
      }
      for (const key of b.lastRunKeys) unconfirmed.add(key);
    }
    pending.allSent = true;
    if (pending.failure === undefined) await confirmations(pending, sent, this.options.timeoutMs);
    if (pending.denied) {
      throw new SinkError(`NATS refuses pgcdc's publish: ${pending.failure}; give the sink's user publish rights on these subjects (nothing was dead-lettered)`, { retriable: false });
    }
    if (pending.tooLarge) {
      throw new SinkError(`NATS refuses a record: ${pending.failure}; raise the stream's max_msg_size (nats stream edit) to at least the server's max_payload (${this.maxPayload} bytes), over which pgcdc dead-letters records itself; nothing was dead-lettered`, { retriable: false });
    }
    if (pending.failure !== undefined) {
      // No stream for the subject is a configuration problem, unless pgcdc creates
      // the stream itself (then it may be coming back after a server restart).
      const retriable = !pending.noStream || this.options.stream !== undefined;
      if (pending.noStream) this.streamMissing = true;
      throw new SinkError(`NATS publish failed: ${pending.failure}${retriable ? '' : '; create a JetStream stream for these subjects, or set sink.stream'}`, { retriable });
    }
  }

  private async connect(): Promise<void> {
    // Its failure is a retriable SinkError naming every server tried and what to check.
    await this.publisher.connect(`${this.replyPrefix}*`);
    this.maxPayload = this.publisher.info.max_payload ?? this.maxPayload;
  }

  /** The configured stream exists afterwards: looked up, created if missing (official client; not hot). */
  private async ensureStream(): Promise<void> {
    const name = this.options.stream!;
    // The official client is loaded only here (not at start-up): see redis-sink.ts.
    const [{ connect }, { jetstreamManager }] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]);
    let connection;
    try {
      connection = await connect({
        servers: this.options.servers,
        timeout: this.options.timeoutMs,
        ...(this.options.user ? { user: this.options.user, pass: this.options.password } : {}),
        ...(this.options.token ? { token: this.options.token } : {}),
      });
      const manager = await jetstreamManager(connection);
      try {
        await manager.streams.info(name);
      } catch {
        await manager.streams.add({ name, subjects: this.options.streamSubjects });
      }
      this.streamMissing = false;
    } catch (error) {
      throw new SinkError(`cannot look up or create the JetStream stream ${name}: ${(error as Error).message}; check that nats-server runs with JetStream (-js)`, { retriable: true, cause: error });
    } finally {
      await connection?.close().catch(() => undefined);
    }
  }

  private takeToken(): number {
    const token = this.nextToken;
    this.nextToken = (this.nextToken + 1) >>> 0;
    return token;
  }

  /**
   * A batch sent before goes out again under a new token. Its bytes are copied
   * first: the socket may not have written the earlier attempt's yet.
   */
  private retoken(batch: NatsBatch): void {
    batch.token = this.takeToken();
    const tokenHex = hex8(batch.token);
    const bytes = Buffer.from(batch.bytes);
    for (const offset of batch.tokenOffsets) bytes.write(tokenHex, offset, 'latin1');
    batch.bytes = bytes;
  }

  private topicPrefix(topic: string): Buffer | { reason: string } {
    let prefix = this.topicPrefixes.get(topic);
    if (prefix === undefined) {
      if (this.topicPrefixes.size >= TOPIC_CACHE_LIMIT) this.topicPrefixes.clear();
      const problem = invalidSubject(topic);
      prefix = problem === undefined ? Buffer.from(`HPUB ${topic} ${this.replyPrefix}`) : { reason: problem };
      this.topicPrefixes.set(topic, prefix);
    }
    return prefix;
  }

  private onPubAck(message: InboundMessage): void {
    const token = parseHex(message.subject, this.replyPrefix.length);
    const pending = this.pendingByToken.get(token);
    // Not awaited by a write in progress: an earlier attempt's, or an abandoned batch's.
    if (pending === undefined || pending.waiting === 0) return;
    const left = pending.remaining.get(token);
    if (left === undefined || left === 0) return;
    pending.remaining.set(token, left - 1);
    pending.waiting--;
    readPubAck(pending, message, this.decoder);
    if (pending.waiting === 0) pending.settle();
  }

  /** Every write in progress fails now as a configuration error (its refused record would never be acknowledged). */
  private onPermissionDenied(text: string): void {
    for (const pending of new Set(this.pendingByToken.values())) {
      pending.failure = text;
      pending.denied = true;
      pending.settle();
    }
  }

  /** The writes in progress fail now rather than at their timeout; the retry connects again. */
  private onConnectionLost(reason: string): void {
    for (const pending of new Set(this.pendingByToken.values())) {
      pending.failure ??= `the connection to NATS was lost (${reason})`;
      pending.settle();
    }
  }

  async close(): Promise<void> {
    this.opened = false;
    await this.publisher.close();
  }
}
