/**
 * A connection to nats-server for the NATS sink's publishes and their PubAcks,
 * speaking the NATS client protocol (docs.nats.io, "Client Protocol") itself.
 *
 * Written by hand because it is the hot path (docs/benchmarks.md): each record
 * is one HPUB frame out and one MSG frame (its PubAck) back. Through
 * @nats-io/nats-core, each PubAck went through a byte-by-byte parser, an
 * argument array, a message object and a subscription callback (about 3 µs per
 * record, a tenth of pgcdc's time), and each batch was copied once more into
 * the library's outbound buffer; the fast path also needed the library's
 * internal protocol handler. Here a batch is one socket write of bytes encoded
 * ahead, and a PubAck is read in place from the received bytes.
 *
 * It does what the sink needs and no more: CONNECT with user/password or token,
 * TLS when the server requires it (or the URL says tls://), one subscription
 * (the PubAck inbox), answering the server's PINGs. No reconnect buffering: a
 * lost connection fails the write in progress, the pipeline retries it, and the
 * retry connects again. Stream management goes through the official client
 * (nats-sink.ts); it is not hot.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { PGCDC_VERSION } from '../core/version.ts';
import { SinkError } from './sink.ts';

export interface NatsPublisherOptions {
  servers: string[];
  /** Limit for connecting and the handshake, per server. */
  timeoutMs: number;
  user?: string;
  password?: string;
  token?: string;
  /** TLS options (a private CA, say); by default Node's trust store (and NODE_EXTRA_CA_CERTS). */
  tls?: ConnectionOptions;
}

/** What nats-server says of itself in INFO (the fields used here). */
export interface NatsServerInfo {
  max_payload?: number;
  headers?: boolean;
  tls_required?: boolean;
  server_id?: string;
  version?: string;
}

/**
 * A message delivered to the subscription. The views point into the received
 * bytes and are valid only during the call.
 */
export interface InboundMessage {
  subject: Buffer;
  /** The status of a header block's first line (`NATS/1.0 503` → 503), if any. */
  status: number | undefined;
  payload: Buffer;
}

const CRLF = Buffer.from('\r\n');
const PONG = Buffer.from('PONG\r\n');
const SPACE = 0x20;
const INCOMPLETE = -1;
const UNREADABLE = -2;

export class NatsPublisher {
  private readonly options: NatsPublisherOptions;
  private socket: Socket | undefined;
  private nextServer = 0;
  private leftover: Buffer | undefined;
  private handshake: { resolve: () => void; reject: (error: Error) => void } | undefined;
  info: NatsServerInfo = {};
  /** The subscription's messages (the sink's PubAcks). */
  onMessage: (message: InboundMessage) => void = () => undefined;
  /** The connection ended (by either side); `reason` when it was an error. */
  onClose: (reason: string) => void = () => undefined;
  /**
   * The server refused a publish or subscription for the user's permissions. It
   * keeps the connection open, and the refused message never gets a PubAck.
   */
  onPermissionDenied: (text: string) => void = () => undefined;

  constructor(options: NatsPublisherOptions) {
    this.options = options;
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** Connects to the first server that answers (starting after the last one used) and subscribes `subject`. */
  async connect(subject: string): Promise<void> {
    const failures: string[] = [];
    for (let i = 0; i < this.options.servers.length; i++) {
      const server = this.options.servers[this.nextServer]!;
      this.nextServer = (this.nextServer + 1) % this.options.servers.length;
      try {
        await this.connectTo(server, subject);
        return;
      } catch (error) {
        failures.push(`${server}: ${(error as Error).message}`);
      }
    }
    throw new SinkError(`cannot reach NATS at ${this.options.servers.join(', ')}: ${failures.join('; ')}; check sink.servers, the credentials, and that nats-server runs with JetStream (-js)`, { retriable: true });
  }

  /** Sends bytes as they are (whole frames). False when the connection is gone. */
  send(bytes: Uint8Array): boolean {
    if (this.socket === undefined) return false;
    this.socket.write(bytes);
    return true;
  }

  /** Ends the connection after what was sent has gone out (at most `waitMs`). */
  async close(waitMs = 2000): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { socket.destroy(); resolve(); }, waitMs);
      socket.once('close', () => { clearTimeout(timer); resolve(); });
      socket.end();
    });
  }

  private async connectTo(server: string, subject: string): Promise<void> {
    const { host, port, tls } = parseServer(server);
    let socket: Socket = netConnect({ host, port });
    socket.setNoDelay(true);
    this.leftover = undefined;
    this.info = {};
    const timer = setTimeout(() => fail(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    let failed: Error | undefined;
    const fail = (error: Error) => {
      failed ??= error;
      this.handshake?.reject(error);
      socket.destroy();
    };
    try {
      // The server speaks first: INFO, in plain text even when TLS follows.
      const info = await new Promise<NatsServerInfo>((resolve, reject) => {
        let received = Buffer.alloc(0);
        const onData = (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          const end = received.indexOf(CRLF);
          if (end < 0) return;
          socket.off('data', onData);
          const line = received.subarray(0, end).toString('utf8');
          if (!line.startsWith('INFO ')) return reject(new Error(`not a NATS server (it said ${JSON.stringify(line.slice(0, 60))})`));
          try { resolve(JSON.parse(line.slice(5)) as NatsServerInfo); } catch { reject(new Error('unreadable INFO from the server')); }
        };
        socket.on('data', onData);
        socket.once('error', (error) => reject(new Error(error.message)));
        socket.once('close', () => reject(failed ?? new Error('the server closed the connection')));
      });
      if (info.headers === false) throw new SinkError('the NATS server does not support headers: nats-server 2.2 or newer is needed', { retriable: false });
      const useTls = tls || info.tls_required === true;
      if (useTls) {
        // From here the TLS socket reports the connection's errors; the plain one
        // underneath must not turn a late one into an unhandled 'error' event.
        socket.on('error', () => undefined);
        socket = await new Promise<Socket>((resolve, reject) => {
          const secure = tlsConnect({ ...this.options.tls, socket, servername: isIpAddress(host) ? undefined : host }, () => resolve(secure));
          secure.once('error', (error) => reject(new Error(`TLS: ${error.message}`)));
        });
      }
      const connect = {
        verbose: false, pedantic: false, tls_required: useTls, name: 'pgcdc', lang: 'nodejs', version: PGCDC_VERSION,
        protocol: 1, headers: true, no_responders: true,
        ...(this.options.user ? { user: this.options.user, pass: this.options.password ?? '' } : {}),
        ...(this.options.token ? { auth_token: this.options.token } : {}),
      };
      socket.removeAllListeners('data');
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      this.socket = socket;
      const ready = new Promise<void>((resolve, reject) => { this.handshake = { resolve, reject }; });
      socket.on('data', (chunk: Buffer) => this.receive(chunk));
      socket.on('error', (error) => this.closed(socket, error.message));
      socket.on('close', () => this.closed(socket, 'the connection closed'));
      // PONG answers our PING once CONNECT was accepted; a refusal comes as -ERR first.
      socket.write(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`);
      await ready;
      this.info = info;
      socket.write(`SUB ${subject} 1\r\n`);
    } catch (error) {
      fail(error as Error);
      if (this.socket === socket) this.socket = undefined;
      throw failed ?? error;
    } finally {
      clearTimeout(timer);
      this.handshake = undefined;
    }
  }

  private closed(socket: Socket, reason: string): void {
    if (this.handshake) this.handshake.reject(new Error(reason));
    if (this.socket !== socket) return;
    this.socket = undefined;
    socket.destroy();
    this.onClose(reason);
  }

  /**
   * Reads whole frames from what arrived; an incomplete one waits for more.
   * The frames (docs.nats.io, client protocol):
   *   MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n
   *   HMSG <subject> <sid> [reply] <header size> <total size>\r\n<headers><payload>\r\n
   *   PING, PONG, +OK, -ERR '<text>', INFO {...}: one line each.
   */
  private receive(chunk: Buffer): void {
    const data = this.leftover === undefined ? chunk : Buffer.concat([this.leftover, chunk]);
    this.leftover = undefined;
    let at = 0;
    while (at < data.length) {
      const lineEnd = data.indexOf(CRLF, at);
      if (lineEnd < 0) break;
      const op = data[at];
      if (op === 0x4d /* M */ || op === 0x48 /* H */) {
        const frameEnd = this.message(data, at, lineEnd, op === 0x48);
        if (frameEnd === UNREADABLE) return; // the connection is closed
        if (frameEnd === INCOMPLETE) break; // the payload has not all arrived
        at = frameEnd;
        continue;
      }
      const line = data.toString('latin1', at, lineEnd);
      at = lineEnd + 2;
      if (line === 'PING') this.socket?.write(PONG);
      else if (line === 'PONG') this.handshake?.resolve();
      else if (line.startsWith('-ERR')) this.serverError(line.slice(4).trim().replace(/^'|'$/g, ''));
      else if (line.startsWith('INFO ')) {
        try { this.info = { ...this.info, ...(JSON.parse(line.slice(5)) as NatsServerInfo) }; } catch { /* an unreadable update changes nothing */ }
      }
      // +OK (not asked for: verbose is off) and anything else: nothing to do.
    }
    if (at < data.length) this.leftover = Buffer.from(data.subarray(at));
  }

  /** Delivers the message whose control line is data[at, lineEnd); returns where the next frame starts, INCOMPLETE or UNREADABLE. */
  private message(data: Buffer, at: number, lineEnd: number, withHeaders: boolean): number {
    // Arguments after the operation: subject sid [reply] size, or subject sid [reply] header-size total-size.
    const subjectStart = at + (withHeaders ? 5 : 4);
    const subjectEnd = data.indexOf(SPACE, subjectStart);
    if (subjectEnd < 0 || subjectEnd > lineEnd) return this.unreadable(data, at, lineEnd);
    // The sizes are the last one or two arguments.
    const lastSpace = data.lastIndexOf(SPACE, lineEnd - 1);
    const total = parseDecimal(data, lastSpace + 1, lineEnd);
    let headerBytes = 0;
    if (withHeaders) {
      const previousSpace = data.lastIndexOf(SPACE, lastSpace - 1);
      headerBytes = parseDecimal(data, previousSpace + 1, lastSpace);
    }
    if (total < 0 || headerBytes < 0 || headerBytes > total) return this.unreadable(data, at, lineEnd);
    const bodyStart = lineEnd + 2;
    const frameEnd = bodyStart + total + 2;
    if (frameEnd > data.length) return INCOMPLETE;
    let status: number | undefined;
    if (withHeaders && headerBytes >= 12) {
      // "NATS/1.0 503 ..." : a status follows the version on the first line.
      const statusAt = bodyStart + 9;
      if (data[statusAt - 1] === SPACE) status = parseDecimal(data, statusAt, statusAt + 3);
    }
    this.onMessage({ subject: data.subarray(subjectStart, subjectEnd), status, payload: data.subarray(bodyStart + headerBytes, bodyStart + total) });
    return frameEnd;
  }

  private serverError(text: string): void {
    const error = new Error(`NATS refused: ${text}`);
    if (/^Permissions Violation/i.test(text) && !this.handshake) {
      this.onPermissionDenied(text);
      return;
    }
    if (this.handshake) {
      this.handshake.reject(error);
      return;
    }
    // Most errors are followed by the server closing the connection; the write in
    // progress then fails with this text.
    const socket = this.socket;
    if (socket !== undefined) this.closed(socket, `NATS said: ${text}`);
  }

  /** A frame that cannot be read: nothing after it can be either, so the connection ends. */
  private unreadable(data: Buffer, at: number, lineEnd: number): typeof UNREADABLE {
    const socket = this.socket;
    if (socket !== undefined) this.closed(socket, `unreadable frame from NATS: ${JSON.stringify(data.toString('latin1', at, Math.min(lineEnd, at + 80)))}`);
    return UNREADABLE;
  }
}

/** "host:port", "nats://host:port", "tls://host:port", "host" (port 4222), "[::1]:4222". */
export function parseServer(server: string): { host: string; port: number; tls: boolean } {
  const withScheme = /^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`;
  const url = new URL(withScheme);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : 4222, tls: url.protocol === 'tls:' };
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/** The decimal number in data[start, end), or -1 when it is not one. */
function parseDecimal(data: Buffer, start: number, end: number): number {
  if (start >= end) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = data[i]! - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
