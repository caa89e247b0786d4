/**
 * NATS JetStream: one publish per record to its subject, with `Nats-Msg-Id` =
 * the event id, so JetStream drops a re-delivered record inside the stream's
 * duplicate window. `write` resolves when every publish of the batch has its
 * PubAck.
 *
 * Hot path written by hand (docs/benchmarks.md):
 * - `js.publish()` of @nats-io/jetstream costs about 80 µs of CPU per record in
 *   Node (a request object, a timer and a promise each) and capped the sink near
 *   10,000 records/s. Here records go out as plain core publishes on one
 *   connection, in order, each with its own numbered reply subject under one
 *   inbox subscription that counts the PubAcks.
 * - Even core `publish()` encodes three strings, builds a headers object and
 *   copies four small buffers per record; with 2 CPUs shared with nats-server and
 *   PostgreSQL that was a third of pgcdc's time. So each batch's HPUB frames
 *   (NATS client protocol: `HPUB subject reply hdr_len total_len`, headers,
 *   payload) are written as one string and encoded once, when the batch is
 *   prepared (sink.ts: `EncodedBatch`), then handed to the connection's protocol
 *   handler, which sends them exactly as it sends its own publishes (buffered
 *   while reconnecting, flushed in order). That handler is internal to
 *   @nats-io/nats-core (pinned in package.json; a test asserts the raw path is
 *   taken); without it the sink falls back to public `publish()`.
 * The JetStream client is still used for what is not hot: stream lookup and creation.
 */
import { connect, createInbox, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { OutboundRecord } from './outbound-record.ts';
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
 * A batch encoded as HPUB frames when it was prepared (sink.ts says why). Each
 * record's reply subject is `<inbox>.<n>`, numbered in order from `first`: a
 * PubAck names the record it acknowledges, so an acknowledgement that arrives
 * late, from an earlier attempt at the same batch, counts once and for the right
 * record (the same message: JetStream deduplicates it by Nats-Msg-Id).
 */
export interface NatsBatch extends EncodedBatch {
  readonly first: number;
  /** Only when the raw protocol path is unavailable: the records to publish one by one. */
  readonly records: OutboundRecord[] | undefined;
}

/** The PubAcks awaited by the write in progress. */
interface PendingWrite {
  /** Reply number of `expected[0]`. */
  first: number;
  /** Per reply number from `first`: 0 not in this write, 1 awaited, 2 acknowledged. */
  expected: Uint8Array;
  waiting: number;
  failure: string | undefined;
  noStream: boolean;
  settle: () => void;
}

const PUBACK_START = Buffer.from('{"stream"');
const EMPTY = Buffer.alloc(0);

/** The part of nats-core's protocol handler the raw path uses (internal API, version pinned). */
interface RawProtocol {
  sendCommand(command: Uint8Array): void;
}

export class NatsSink implements EncodingSink<NatsBatch> {
  readonly name: string;
  private readonly options: NatsSinkOptions;
  private connection: NatsConnection | undefined;
  private protocol: RawProtocol | undefined;
  private maxPayload = 1024 * 1024;
  /** `<inbox>.`: the reply subjects' common part. */
  private replyPrefix = '';
  private nextReply = 0;
  private pending: PendingWrite | undefined;
  private readonly decoder = new TextDecoder();

  constructor(options: NatsSinkOptions) {
    this.options = options;
    this.name = `nats ${options.servers.join(',')}`;
  }

  /** True when batches go out through the raw protocol path (the fast one). */
  get usesRawProtocol(): boolean {
    return this.protocol !== undefined;
  }

  async open(): Promise<void> {
    try {
      this.connection = await connect({
        servers: this.options.servers,
        timeout: this.options.timeoutMs,
        maxReconnectAttempts: -1,
        ...(this.options.user ? { user: this.options.user, pass: this.options.password } : {}),
        ...(this.options.token ? { token: this.options.token } : {}),
      });
    } catch (error) {
      throw new SinkError(`cannot reach NATS at ${this.options.servers.join(', ')}: ${(error as Error).message}; check sink.servers and that nats-server runs with JetStream (-js)`, { retriable: true, cause: error });
    }
    const protocol = (this.connection as unknown as { protocol?: Partial<RawProtocol> }).protocol;
    this.protocol = typeof protocol?.sendCommand === 'function' ? protocol as RawProtocol : undefined;
    this.maxPayload = this.connection.info?.max_payload ?? this.maxPayload;
    const inbox = createInbox();
    this.replyPrefix = `${inbox}.`;
    // Closed with the connection (drain).
    this.connection.subscribe(`${inbox}.*`, { callback: (_error, msg) => this.onPubAck(msg) });
    if (this.options.stream) {
      const manager = await jetstreamManager(this.connection);
      try {
        await manager.streams.info(this.options.stream);
      } catch {
        await manager.streams.add({ name: this.options.stream, subjects: this.options.streamSubjects });
      }
    }
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    const batch = this.encode(records);
    await this.writeEncoded([batch]);
    return { rejected: batch.rejected };
  }

  encode(records: OutboundRecord[]): NatsBatch {
    const first = this.nextReply;
    const rejected: SinkResult['rejected'] = [];
    const frames: string[] = [];
    const fallback: OutboundRecord[] | undefined = this.protocol ? undefined : [];
    for (const record of records) {
      const headerLines = headerBlock(record);
      const problem = typeof headerLines === 'string' ? invalidSubject(record.topic) : headerLines.reason;
      if (problem !== undefined) { rejected.push({ record, reason: problem }); continue; }
      const header = headerLines as string;
      // Header text is ASCII except for user-supplied values; measure it only when it has to be.
      const headerBytes = isAscii(header) ? header.length : Buffer.byteLength(header);
      const total = headerBytes + Buffer.byteLength(record.value);
      if (total > this.maxPayload) {
        rejected.push({ record, reason: `record of ${total} bytes exceeds the NATS server's max_payload (${this.maxPayload} bytes)` });
        continue;
      }
      const reply = this.nextReply++;
      if (fallback) fallback.push(record);
      else frames.push(`HPUB ${record.topic} ${this.replyPrefix}${reply} ${headerBytes} ${total}\r\n${header}${record.value}\r\n`);
    }
    const bytes = frames.length > 0 ? Buffer.from(frames.join('')) : EMPTY;
    return { bytes, count: this.nextReply - first, rejected, first, records: fallback };
  }

  async writeEncoded(batches: NatsBatch[]): Promise<void> {
    const connection = this.connection;
    if (connection === undefined) throw new SinkError('NATS sink is not open', { retriable: true });
    const sending = batches.filter((b) => b.count > 0);
    if (sending.length === 0) return;
    const first = Math.min(...sending.map((b) => b.first));
    const last = Math.max(...sending.map((b) => b.first + b.count));
    const expected = new Uint8Array(last - first);
    let waiting = 0;
    for (const b of sending) {
      expected.fill(1, b.first - first, b.first - first + b.count);
      waiting += b.count;
    }
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => { settle = resolve; });
    const pending: PendingWrite = { first, expected, waiting, failure: undefined, noStream: false, settle };
    this.pending = pending;
    try {
      for (const b of sending) {
        if (b.records === undefined) this.protocol!.sendCommand(b.bytes);
        else b.records.forEach((record, i) => connection.publish(record.topic, record.value, { reply: `${this.replyPrefix}${b.first + i}`, headers: toNatsHeaders(record) }));
      }
    } catch (error) {
      this.pending = undefined;
      throw new SinkError(`NATS publish failed: ${(error as Error).message}`, { retriable: true, cause: error });
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      settled.then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), this.options.timeoutMs); }),
    ]);
    clearTimeout(timer);
    this.pending = undefined;
    if (timedOut) {
      throw new SinkError(`NATS publish failed: no PubAck for ${pending.waiting} of ${waiting} records within ${this.options.timeoutMs} ms; check that nats-server is reachable and runs with JetStream (-js)`, { retriable: true });
    }
    if (pending.failure !== undefined) {
      // No stream for the subject is a configuration problem, unless pgcdc creates
      // the stream itself (then it may be coming back after a server restart).
      const retriable = !pending.noStream || this.options.stream !== undefined;
      throw new SinkError(`NATS publish failed: ${pending.failure}${retriable ? '' : '; create a JetStream stream for these subjects, or set sink.stream'}`, { retriable });
    }
  }

  private onPubAck(msg: Msg): void {
    const pending = this.pending;
    if (pending === undefined || pending.waiting === 0) return;
    const index = Number(msg.subject.slice(this.replyPrefix.length)) - pending.first;
    // Not awaited by this write (an abandoned batch's), or already counted.
    if (!(index >= 0 && index < pending.expected.length) || pending.expected[index] !== 1) return;
    pending.expected[index] = 2;
    pending.waiting--;
    if (msg.headers?.code === 503) {
      pending.failure ??= 'no responders: no JetStream stream captures this subject';
      pending.noStream = true;
    } else {
      // A PubAck is {"stream":..,"seq":..[,"duplicate":true]}; a failure is {"error":{..}}.
      // Only the first bytes are compared on the hot path.
      if (!PUBACK_START.equals(msg.data.subarray(0, PUBACK_START.length))) {
        const text = this.decoder.decode(msg.data);
        let description = text;
        try { description = (JSON.parse(text) as { error?: { description?: string } }).error?.description ?? text; } catch { /* keep the raw text */ }
        pending.failure ??= description;
      }
    }
    if (pending.waiting === 0) pending.settle();
  }

  /** Drains pending publishes, but never waits long: with the server gone, drain() would wait forever. */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      connection.drain().catch(() => undefined),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, 2000); }),
    ]);
    clearTimeout(timer);
    await connection.close().catch(() => undefined);
  }
}

/** NATS headers of a record: Nats-Msg-Id, the record's own headers, Pgcdc-Key. */
function headerEntries(record: OutboundRecord): Array<[string, string]> {
  const entries: Array<[string, string]> = [['Nats-Msg-Id', record.id]];
  for (const [k, v] of Object.entries(record.headers)) entries.push([k, v]);
  if (record.key !== null) entries.push(['Pgcdc-Key', record.key]);
  return entries;
}

// Header names: printable ASCII without ':' or spaces; values: no CR or LF (they end a header line).
const HEADER_NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n]/;

/** The NATS/1.0 header block of a record's HPUB frame, or why it cannot be sent. */
function headerBlock(record: OutboundRecord): string | { reason: string } {
  let block = 'NATS/1.0\r\n';
  for (const [name, value] of headerEntries(record)) {
    if (!HEADER_NAME.test(name)) return { reason: `header name ${JSON.stringify(name)} is not a valid NATS header name` };
    if (LINE_BREAK.test(value)) return { reason: `header ${name} contains a line break, which NATS headers cannot carry` };
    block += `${name}: ${value}\r\n`;
  }
  return `${block}\r\n`;
}

const SUBJECT_SPACE = /[\s]/;

function invalidSubject(subject: string): string | undefined {
  if (subject.length === 0 || SUBJECT_SPACE.test(subject)) return `subject ${JSON.stringify(subject)} is not a valid NATS subject (empty or containing whitespace)`;
  return undefined;
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

function isAscii(text: string): boolean {
  return !NON_ASCII.test(text);
}

function toNatsHeaders(record: OutboundRecord) {
  const h = natsHeaders();
  for (const [name, value] of headerEntries(record)) h.set(name, value);
  return h;
}
