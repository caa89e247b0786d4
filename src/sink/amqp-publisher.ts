/**
 * One AMQP 0-9-1 connection to RabbitMQ with one channel in confirm mode, for
 * the RabbitMQ sink, speaking the protocol itself (amqp-frames.ts and decision
 * 0015 say why). It does what the sink needs and no more: connect (TLS for
 * amqps://), log in with PLAIN, open the URL's vhost, open channel 1, select
 * confirms, declare an exchange, then take runs of encoded messages and count
 * the broker's acks and nacks for them.
 *
 * Confirms: after confirm.select the broker numbers the channel's publishes 1,
 * 2, 3, ... (delivery tags) and acks or nacks each, possibly several at once
 * ("multiple": every tag up to this one). A message returned as unroutable
 * (mandatory) comes back before its ack.
 *
 * No reconnect of its own: a lost connection, a channel the broker closed or
 * confirms that do not come fail everything waiting (the broker's words as the
 * reason), and the sink's next write connects again.
 */
import type { Socket } from 'node:net';
import { connectSocket } from './connect-socket.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { CdcError } from '../core/errors.ts';
import {
  AmqpFrameReader, ArgumentReader, FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD, Method, PROTOCOL_HEADER,
  beginMethod, bodySizeOfHeader, endFrame, messageIdOfHeader, methodName, writeLongString, writeShortString, writeTable,
} from './amqp-frames.ts';
import { ConfirmTracker } from './amqp-confirms.ts';
import { PGCDC_VERSION } from '../core/version.ts';

/** host, port, TLS, credentials, vhost and tuning of an amqp:// or amqps:// URL (as amqplib and the other clients read it). */
export interface AmqpAddress {
  host: string;
  port: number;
  tls: boolean;
  username: string;
  password: string;
  vhost: string;
  /** Seconds; undefined: take the broker's proposal. 0: none. */
  heartbeat: number | undefined;
  frameMax: number;
}

export function parseAmqpUrl(url: string): AmqpAddress {
  const parsed = new URL(url);
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') throw new CdcError('PGCDC_CONFIG', `expected an amqp:// or amqps:// URL, got ${parsed.protocol}`);
  const tls = parsed.protocol === 'amqps:';
  const number = (name: string): number | undefined => {
    const text = parsed.searchParams.get(name);
    if (text === null) return undefined;
    if (!/^\d+$/.test(text)) throw new CdcError('PGCDC_CONFIG', `the URL's ${name} must be a whole number, got '${text}'`);
    return Number(text);
  };
  // Both missing: guest/guest, as every AMQP client defaults.
  const anonymous = parsed.username === '' && parsed.password === '';
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: parsed.port ? Number(parsed.port) : tls ? 5671 : 5672,
    tls,
    username: anonymous ? 'guest' : decodeURIComponent(parsed.username),
    password: anonymous ? 'guest' : decodeURIComponent(parsed.password),
    vhost: parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : '/',
    heartbeat: number('heartbeat'),
    frameMax: number('frame_max') ?? number('frameMax') ?? 131_072,
  };
}

interface Waiter {
  method: number;
  resolve: (args: ArgumentReader) => void;
  reject: (error: Error) => void;
}

const CHANNEL = 1;
const HEARTBEAT_FRAME = Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, 0xce]);

/** `token`: what the caller tracks per message (the sink's record); `onAck` gets it back when the broker confirms that message. */
export class AmqpPublisher<Token extends object | number> {
  private readonly socket: Socket;
  private readonly reader = new AmqpFrameReader();
  private readonly timeoutMs: number;
  private waiter: Waiter | undefined;
  /** Why the connection ended; undefined while it is open. */
  private closedBecause: string | undefined;
  /** Why the broker blocked publishing (connection.blocked: a memory or disk alarm), while it does. */
  private blockedBecause: string | undefined;
  /** Set by the sink: a message confirmed (acked). */
  set onAck(handler: (token: Token) => void) {
    this.confirms.onAck = handler;
  }
  /** Set by the sink: a message returned as unroutable (mandatory), with its message id, before its ack. */
  onReturn: (messageId: string | undefined, routingKey: string, reason: string) => void = () => undefined;
  /** Largest body frame payload the broker accepts. */
  maxBodyPayload = 131_072 - FRAME_OVERHEAD;

  private readonly confirms = new ConfirmTracker<Token>();

  // A returned message: its reason until its header (message id) and body have passed.
  private returning: { routingKey: string; reason: string; bodyLeft: number; messageId: string | undefined } | undefined;

  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastReceived = Date.now();
  private lastSent = Date.now();
  private drainWaiters: (() => void)[] = [];

  private constructor(socket: Socket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(error.message));
    socket.on('close', () => this.fail('the connection closed'));
    socket.on('drain', () => { for (const resolve of this.drainWaiters.splice(0)) resolve(); });
  }

  /** Connects, logs in, opens the vhost and a confirm channel; rejects with the reason (the broker's words when it refuses). */
  static async open<Token extends object | number>(address: AmqpAddress, timeoutMs: number): Promise<AmqpPublisher<Token>> {
    const socket = await connectSocket(address, timeoutMs);
    const publisher = new AmqpPublisher<Token>(socket, timeoutMs);
    try {
      await publisher.handshake(address);
    } catch (error) {
      publisher.fail((error as Error).message);
      throw error;
    }
    return publisher;
  }

  get open(): boolean {
    return this.closedBecause === undefined;
  }

  private async handshake(address: AmqpAddress): Promise<void> {
    const start = this.expect(Method.connectionStart);
    this.socket.write(PROTOCOL_HEADER);
    const startArgs = await start;
    startArgs.octet(); // version-major
    startArgs.octet(); // version-minor
    startArgs.skipTable(); // server properties
    const mechanisms = startArgs.longString().split(' ');
    if (!mechanisms.includes('PLAIN')) throw new CdcError('PGCDC_SINK', `the broker offers no PLAIN login (only ${mechanisms.join(', ')})`);

    const out = new ByteWriter(512);
    let frame = beginMethod(out, 0, Method.connectionStartOk);
    writeTable(out, {
      product: 'pgcdc',
      version: PGCDC_VERSION,
      platform: `Node.js ${process.version}`,
      // authentication_failure_close: a wrong password is answered with connection.close and its reason, not a bare disconnect.
      capabilities: { publisher_confirms: true, 'basic.nack': true, 'connection.blocked': true, authentication_failure_close: true },
    });
    writeShortString(out, 'PLAIN');
    writeLongString(out, `\u0000${address.username}\u0000${address.password}`);
    writeShortString(out, 'en_US');
    endFrame(out, frame);
    const tune = this.expect(Method.connectionTune);
    this.socket.write(out.finish());
    const tuneArgs = await tune;
    const channelMax = tuneArgs.short();
    const brokerFrameMax = tuneArgs.long();
    const brokerHeartbeat = tuneArgs.short();
    const frameMax = brokerFrameMax === 0 ? address.frameMax : Math.min(brokerFrameMax, address.frameMax);
    const heartbeat = address.heartbeat ?? brokerHeartbeat;
    this.reader.maxFrame = frameMax;
    this.maxBodyPayload = frameMax - FRAME_OVERHEAD;

    const setup = new ByteWriter(256);
    frame = beginMethod(setup, 0, Method.connectionTuneOk);
    setup.uint16(channelMax);
    setup.uint32(frameMax);
    setup.uint16(heartbeat);
    endFrame(setup, frame);
    frame = beginMethod(setup, 0, Method.connectionOpen);
    writeShortString(setup, address.vhost);
    writeShortString(setup, ''); // reserved (capabilities)
    setup.uint8(0); // reserved (insist)
    endFrame(setup, frame);
    const opened = this.expect(Method.connectionOpenOk);
    this.socket.write(setup.finish());
    await opened;
    this.startHeartbeats(heartbeat);

    await this.call(Method.channelOpen, Method.channelOpenOk, (args) => writeShortString(args, ''));
    await this.call(Method.confirmSelect, Method.confirmSelectOk, (args) => args.uint8(0)); // nowait: no
  }

  /** Declares a durable exchange of `type`; rejects with the broker's reason (it closes the channel). */
  async declareExchange(name: string, type: string): Promise<void> {
    await this.call(Method.exchangeDeclare, Method.exchangeDeclareOk, (args) => {
      args.uint16(0); // reserved (ticket)
      writeShortString(args, name);
      writeShortString(args, type);
      args.uint8(0b10); // passive no, durable yes, auto-delete no, internal no, nowait no
      writeTable(args, {});
    });
  }

  /**
   * Counts one more message: the caller encodes a message (writePublish, its
   * header and body) into a run and calls this with its token, in the order the
   * messages are sent.
   */
  track(token: Token): void {
    this.confirms.track(token);
  }

  /** Writes a run of encoded messages; resolves at once, or when the socket has room again. */
  async send(bytes: Uint8Array): Promise<void> {
    if (this.closedBecause !== undefined) throw this.closedError();
    this.lastSent = Date.now();
    if (this.socket.write(bytes)) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    if (this.closedBecause !== undefined) throw this.closedError();
  }

  /** Resolves when every message tracked so far is settled; rejects if the broker nacked any of them (or the connection ended). */
  waitForConfirms(): Promise<void> {
    if (this.closedBecause !== undefined) return Promise.reject(this.closedError());
    return this.confirms.wait();
  }

  /** Why publishing stalls, when the broker said (connection.blocked). */
  get blocked(): string | undefined {
    return this.blockedBecause;
  }

  /** Closes the connection politely (connection.close, its reply awaited briefly). */
  async close(): Promise<void> {
    if (this.closedBecause !== undefined) return;
    const out = new ByteWriter(64);
    const frame = beginMethod(out, 0, Method.connectionClose);
    out.uint16(200);
    writeShortString(out, 'pgcdc closing');
    out.uint16(0);
    out.uint16(0);
    endFrame(out, frame);
    const closed = this.expect(Method.connectionCloseOk);
    this.socket.write(out.finish());
    const timer = setTimeout(() => this.fail('the sink closed the connection'), Math.min(this.timeoutMs, 1000));
    await closed.catch(() => undefined);
    clearTimeout(timer);
    this.fail('the sink closed the connection');
  }

  // ---- protocol -------------------------------------------------------------

  private expect(method: number): Promise<ArgumentReader> {
    return new Promise((resolve, reject) => {
      if (this.closedBecause !== undefined) reject(this.closedError());
      else this.waiter = { method, resolve, reject };
    });
  }

  /** A synchronous method on the channel: sends it, waits for its reply within the timeout. */
  private async call(method: number, reply: number, writeArgs: (out: ByteWriter) => void): Promise<void> {
    const out = new ByteWriter(128);
    const frame = beginMethod(out, CHANNEL, method);
    writeArgs(out);
    endFrame(out, frame);
    const answered = this.expect(reply);
    this.socket.write(out.finish());
    const timer = setTimeout(() => this.fail(`no reply to ${methodName(method)} within ${this.timeoutMs} ms`), this.timeoutMs);
    try {
      await answered;
    } finally {
      clearTimeout(timer);
    }
  }

  private receive(chunk: Buffer): void {
    this.lastReceived = Date.now();
    try {
      for (const frame of this.reader.push(chunk)) {
        if (frame.type === FRAME_METHOD) this.method(frame.channel, frame.payload);
        else if (frame.type === FRAME_HEADER) this.contentHeader(frame.payload);
        else if (frame.type === FRAME_BODY) this.contentBody(frame.payload.length);
        else if (frame.type !== FRAME_HEARTBEAT) throw new CdcError('PGCDC_PROTOCOL', `an AMQP frame of unknown type ${frame.type}`);
        if (this.closedBecause !== undefined) return;
      }
    } catch (error) {
      this.fail((error as Error).message);
    }
  }

  private method(channel: number, payload: Buffer): void {
    const method = payload.readUInt32BE(0);
    const args = new ArgumentReader(payload, 4);
    if (method === Method.basicAck) {
      const tag = args.longlong();
      this.confirms.settle(tag, (args.octet() & 1) === 1, true);
    } else if (method === Method.basicNack) {
      const tag = args.longlong();
      this.confirms.settle(tag, (args.octet() & 1) === 1, false);
    } else if (method === Method.basicReturn) {
      const code = args.short();
      const text = args.shortString();
      args.shortString(); // exchange
      const routingKey = args.shortString();
      this.returning = { routingKey, reason: `${code} ${text}`, bodyLeft: -1, messageId: undefined };
    } else if (method === Method.connectionClose || method === Method.channelClose) {
      const code = args.short();
      const text = args.shortString();
      // Answer it (the broker waits for close-ok), then end: a closed channel is as good as a closed connection here.
      const out = new ByteWriter(16);
      endFrame(out, beginMethod(out, channel, method === Method.connectionClose ? Method.connectionCloseOk : Method.channelCloseOk));
      this.socket.write(out.finish());
      this.fail(`${method === Method.connectionClose ? 'connection' : 'channel'} closed by the broker: ${code} ${text}`);
    } else if (method === Method.connectionBlocked) {
      this.blockedBecause = args.shortString() || 'the broker blocked publishing';
    } else if (method === Method.connectionUnblocked) {
      this.blockedBecause = undefined;
    } else if (this.waiter !== undefined && this.waiter.method === method) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve(args);
    } else {
      this.fail(`unexpected AMQP method ${methodName(method)} on channel ${channel}`);
    }
  }

  private contentHeader(payload: Buffer): void {
    const returning = this.returning;
    if (returning === undefined || returning.bodyLeft !== -1) throw new CdcError('PGCDC_PROTOCOL', 'an AMQP content header without its basic.return');
    returning.messageId = messageIdOfHeader(payload);
    returning.bodyLeft = bodySizeOfHeader(payload);
    if (returning.bodyLeft === 0) this.returned();
  }

  private contentBody(bytes: number): void {
    const returning = this.returning;
    if (returning === undefined || returning.bodyLeft < 0) throw new CdcError('PGCDC_PROTOCOL', 'an AMQP content body without its header');
    returning.bodyLeft -= bytes;
    if (returning.bodyLeft <= 0) this.returned();
  }

  private returned(): void {
    const returning = this.returning!;
    this.returning = undefined;
    this.onReturn(returning.messageId, returning.routingKey, returning.reason);
  }

  private startHeartbeats(seconds: number): void {
    if (seconds === 0) return;
    // Send one when nothing else went out for half the period; give up after two silent periods from the broker.
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastReceived > 2 * seconds * 1000) this.fail(`no heartbeat from the broker for ${2 * seconds} s`);
      else if (now - this.lastSent >= (seconds * 1000) / 2) {
        this.lastSent = now;
        this.socket.write(HEARTBEAT_FRAME);
      }
    }, (seconds * 1000) / 2);
    this.heartbeatTimer.unref();
  }

  private closedError(): CdcError {
    return new CdcError('PGCDC_SINK', this.closedBecause ?? 'the connection closed');
  }

  /** Ends the connection: whatever waits fails with `reason`. */
  private fail(reason: string): void {
    if (this.closedBecause === undefined) this.closedBecause = reason;
    clearInterval(this.heartbeatTimer);
    const error = this.closedError();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
    this.confirms.failWaiting(error);
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.socket.destroy();
  }
}
