/**
 * NATS JetStream: one publish per record to its subject, with `Nats-Msg-Id` =
 * the event id, so JetStream drops a re-delivered record inside the stream's
 * duplicate window. `write` resolves when every publish of the batch has its
 * PubAck (publishes go out together on one connection, in order).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
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

export class NatsSink implements Sink {
  readonly name: string;
  private readonly options: NatsSinkOptions;
  private connection: NatsConnection | undefined;
  private js: JetStreamClient | undefined;

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
    this.js = jetstream(this.connection, { timeout: this.options.timeoutMs });
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
    const js = this.js;
    if (js === undefined) throw new SinkError('NATS sink is not open', { retriable: true });
    try {
      await Promise.all(records.map((record) => {
        const h = natsHeaders();
        for (const [k, v] of Object.entries(record.headers)) h.set(k, v);
        if (record.key !== null) h.set('Pgcdc-Key', record.key);
        return js.publish(record.topic, record.value, { msgID: record.id, headers: h });
      }));
    } catch (error) {
      const message = (error as Error).message;
      // No stream for the subject is a configuration problem, not a passing one.
      const retriable = !/no responders|no stream/i.test(message) || this.options.stream !== undefined;
      throw new SinkError(`NATS publish failed: ${message}${retriable ? '' : '; create a JetStream stream for these subjects, or set sink.stream'}`, { retriable, cause: error });
    }
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
