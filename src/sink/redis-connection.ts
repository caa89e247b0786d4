/**
 * One connection to a Redis server for the Redis sink, speaking RESP2 itself
 * (resp.ts says why). It does what the sink needs and no more: connect (TLS
 * for rediss://), AUTH with the URL's user and password, SELECT the URL's
 * database, then send whole batches of commands and hand back each batch's
 * replies, in order. Several batches may be in flight at once; Redis answers
 * in the order it received them.
 *
 * No reconnect of its own: a lost connection or a batch without its replies
 * within the timeout fails every batch in flight (retriable), and the sink's
 * next write connects again.
 */
import type { Socket } from 'node:net';
import { connectSocket } from './connect-socket.ts';
import { ByteWriter } from '../core/byte-writer.ts';
import { CdcError } from '../core/errors.ts';
import { RespError, RespReader, writeCommand, type RespReply } from './resp.ts';

interface InFlight {
  expected: number;
  replies: RespReply[];
  resolve: (replies: RespReply[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** host, port, TLS, credentials and database of a redis:// or rediss:// URL. */
export interface RedisAddress {
  host: string;
  port: number;
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
  database: number;
}

export function parseRedisUrl(url: string): RedisAddress {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new CdcError('PGCDC_CONFIG', `expected a redis:// or rediss:// URL, got ${parsed.protocol}`);
  const database = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(database) || database < 0) throw new CdcError('PGCDC_CONFIG', `the database in the URL's path must be a number (redis://host:6379/0), got ${parsed.pathname.slice(1)}`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    tls: parsed.protocol === 'rediss:',
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
  };
}

export class RedisConnection {
  private readonly socket: Socket;
  private readonly reader = new RespReader();
  private readonly inFlight: InFlight[] = [];
  private readonly timeoutMs: number;
  /** Why the connection ended; undefined while it is open. */
  private closedBecause: string | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(error.message));
    socket.on('close', () => this.fail('the connection closed'));
  }

  /** Connects, authenticates and selects the database; rejects with the reason (the server's words for AUTH and SELECT). */
  static async open(address: RedisAddress, timeoutMs: number): Promise<RedisConnection> {
    const socket = await connectSocket(address, timeoutMs);
    const connection = new RedisConnection(socket, timeoutMs);
    const setup: string[][] = [];
    if (address.password !== undefined) setup.push(address.username === undefined ? ['AUTH', address.password] : ['AUTH', address.username, address.password]);
    if (address.database !== 0) setup.push(['SELECT', String(address.database)]);
    if (setup.length > 0) {
      const out = new ByteWriter(256);
      for (const command of setup) writeCommand(out, command);
      try {
        const replies = await connection.send(out.finish(), setup.length);
        const refused = replies.find((reply) => reply instanceof RespError);
        if (refused !== undefined) throw new CdcError('PGCDC_SINK', (refused as RespError).message);
      } catch (error) {
        connection.close();
        throw error;
      }
    }
    return connection;
  }

  get open(): boolean {
    return this.closedBecause === undefined;
  }

  /**
   * Sends whole commands, as one buffer or as pieces sent together (corked: one
   * writev, no copy into a joined buffer); resolves with their `expected`
   * replies (error replies among them, as RespError).
   */
  send(bytes: Uint8Array | readonly Uint8Array[], expected: number): Promise<RespReply[]> {
    if (this.closedBecause !== undefined) return Promise.reject(new Error(this.closedBecause));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no reply within ${this.timeoutMs} ms`), this.timeoutMs);
      this.inFlight.push({ expected, replies: [], resolve, reject, timer });
      if (bytes instanceof Uint8Array) {
        this.socket.write(bytes);
        return;
      }
      this.socket.cork();
      for (const piece of bytes) if (piece.length > 0) this.socket.write(piece);
      this.socket.uncork();
    });
  }

  close(): void {
    this.fail('the sink closed the connection');
  }

  private receive(chunk: Buffer): void {
    let replies: RespReply[];
    try {
      replies = this.reader.push(chunk);
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    for (const reply of replies) {
      const head = this.inFlight[0];
      if (head === undefined) {
        this.fail('a reply to no command');
        return;
      }
      head.replies.push(reply);
      if (head.replies.length === head.expected) {
        this.inFlight.shift();
        clearTimeout(head.timer);
        head.resolve(head.replies);
      }
    }
  }

  /** Ends the connection: every batch in flight fails with `reason`. */
  private fail(reason: string): void {
    if (this.closedBecause === undefined) this.closedBecause = reason;
    for (const batch of this.inFlight.splice(0)) {
      clearTimeout(batch.timer);
      batch.reject(new Error(this.closedBecause));
    }
    this.socket.destroy();
  }
}
