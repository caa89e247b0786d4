/**
 * NATS JetStream: one publish per record to its subject, with `Nats-Msg-Id` =
 * the event id, so JetStream drops a re-delivered record inside the stream's
 * duplicate window. `write` resolves when every publish of the batch has its
 * PubAck.
 *
 * Hot path written by hand: `js.publish()` of @nats-io/jetstream costs about
 * 80 µs of CPU per record in Node (a request object, a timer and a promise each)
 * and capped the sink near 10,000 records/s. Here the batch goes out as plain
 * core publishes on one connection, in order, each with a reply subject under
 * one inbox subscription that collects the PubAcks: about 11 µs per record, and
 * the same JetStream semantics (docs/benchmarks.md). The JetStream client is
 * still used for what is not hot: stream lookup and creation.
 */
import { connect, createInbox, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink } from './sink.ts';

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

/** The PubAcks of the batch being written. */
interface PendingBatch {
  /** Per reply number: still waiting for its PubAck. */
  waiting: Set<number>;
  failure: string | undefined;
  noStream: boolean;
  settle: () => void;
}

export class NatsSink implements Sink {
  readonly name: string;
  private readonly options: NatsSinkOptions;
  private connection: NatsConnection | undefined;
  private inbox = '';
  private pending: PendingBatch | undefined;
  /** Reply numbers grow across batches, so a late PubAck of an abandoned batch is never mistaken for a current one. */
  private sequence = 0;
  private readonly decoder = new TextDecoder();

  constructor(options: NatsSinkOptions) {
    this.options = options;
    this.name = `nats ${options.servers.join(',')}`;
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
    this.inbox = createInbox();
    // Closed with the connection (drain).
    this.connection.subscribe(`${this.inbox}.*`, { callback: (_error, msg) => this.onPubAck(msg) });
    if (this.options.stream) {
      const manager = await jetstreamManager(this.connection);
      try {
        await manager.streams.info(this.options.stream);
      } catch {
        await manager.streams.add({ name: this.options.stream, subjects: this.options.streamSubjects });
      }
    }
  }

  async write(records: OutboundRecord[]): Promise<void> {
    const connection = this.connection;
    if (connection === undefined) throw new SinkError('NATS sink is not open', { retriable: true });
    if (records.length === 0) return;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => { settle = resolve; });
    const batch: PendingBatch = { waiting: new Set(), failure: undefined, noStream: false, settle };
    this.pending = batch;
    try {
      for (const record of records) {
        const reply = ++this.sequence;
        batch.waiting.add(reply);
        const h = natsHeaders();
        h.set('Nats-Msg-Id', record.id);
        for (const [k, v] of Object.entries(record.headers)) h.set(k, v);
        if (record.key !== null) h.set('Pgcdc-Key', record.key);
        connection.publish(record.topic, record.value, { reply: `${this.inbox}.${reply}`, headers: h });
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
      throw new SinkError(`NATS publish failed: no PubAck for ${batch.waiting.size} of ${records.length} records within ${this.options.timeoutMs} ms; check that nats-server is reachable and runs with JetStream (-js)`, { retriable: true });
    }
    if (batch.failure !== undefined) {
      // No stream for the subject is a configuration problem, unless pgcdc creates
      // the stream itself (then it may be coming back after a server restart).
      const retriable = !batch.noStream || this.options.stream !== undefined;
      throw new SinkError(`NATS publish failed: ${batch.failure}${retriable ? '' : '; create a JetStream stream for these subjects, or set sink.stream'}`, { retriable });
    }
  }

  private onPubAck(msg: Msg): void {
    const batch = this.pending;
    const reply = Number(msg.subject.slice(this.inbox.length + 1));
    if (batch === undefined || !batch.waiting.delete(reply)) return;
    if (msg.headers?.code === 503) {
      batch.failure ??= 'no responders: no JetStream stream captures this subject';
      batch.noStream = true;
    } else {
      const text = this.decoder.decode(msg.data);
      // A PubAck is {"stream":..,"seq":..[,"duplicate":true]}; a failure is {"error":{..}}.
      if (!text.startsWith('{"stream"')) {
        let description = text;
        try { description = (JSON.parse(text) as { error?: { description?: string } }).error?.description ?? text; } catch { /* keep the raw text */ }
        batch.failure ??= description;
      }
    }
    if (batch.waiting.size === 0) batch.settle();
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
