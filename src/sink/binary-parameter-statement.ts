/**
 * One SQL statement run once per parameter value, each value a Buffer sent in
 * binary, as one round trip: Parse, then Bind and Execute per value, then Sync,
 * written to the connection's socket by hand (a `pg` Submittable). Outside an
 * explicit transaction the statements before a Sync are one implicit
 * transaction, committed at the Sync (PostgreSQL's extended query protocol):
 * either every value is applied, or none.
 *
 * Why by hand: `pg` builds a Bind message by copying the parameter into a
 * writer that it grows by reallocating, then copies that into the message's
 * buffer, a new one per message. For the audit table's batches (megabytes)
 * those allocations and copies were 5% of the sink's CPU in a profile, and a
 * BEGIN and a COMMIT cost two more round trips per write. Here the
 * parameter's bytes go to the socket as they are (libuv writes from them; the
 * caller keeps them untouched until the promise settles).
 */
import type pg from 'pg';
import type { Socket } from 'node:net';

/** A prepared Parse message of the unnamed statement, with its parameter's type. */
export function parseMessage(sql: string, parameterTypeOid: number): Buffer {
  const text = Buffer.from(sql, 'utf8');
  const message = Buffer.alloc(1 + 4 + 1 + text.length + 1 + 2 + 4);
  let at = 0;
  message[at++] = 0x50; // 'P'
  message.writeInt32BE(message.length - 1, at); at += 4;
  message[at++] = 0; // the unnamed statement
  text.copy(message, at); at += text.length;
  message[at++] = 0;
  message.writeInt16BE(1, at); at += 2;
  message.writeInt32BE(parameterTypeOid, at);
  return message;
}

/** Runs the statement of `parse` once per value, all in one implicit transaction; rejects with the server's error (its `code` is the SQLSTATE). */
export function runWithBinaryParameters(client: pg.Client, parse: Buffer, values: readonly Buffer[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    (client as unknown as { query(submittable: BinaryParameterStatement): unknown }).query(new BinaryParameterStatement(parse, values, resolve, reject));
  });
}

/** Bind (unnamed portal and statement, one binary parameter) up to the parameter's bytes. */
function bindHead(length: number): Buffer {
  const head = Buffer.allocUnsafe(1 + 4 + 1 + 1 + 2 + 2 + 2 + 4);
  head[0] = 0x42; // 'B'
  // The message's length: itself, portal and statement names, the format codes, the parameter, no result formats.
  head.writeInt32BE(4 + 1 + 1 + 2 + 2 + 2 + 4 + length + 2, 1);
  head[5] = 0; // unnamed portal
  head[6] = 0; // unnamed statement
  head.writeInt16BE(1, 7); // one format code ...
  head.writeInt16BE(1, 9); // ... binary
  head.writeInt16BE(1, 11); // one parameter
  head.writeInt32BE(length, 13);
  return head;
}

/** After the parameter: no result format codes, then Execute (unnamed portal, every row). */
const BIND_TAIL_AND_EXECUTE = Buffer.from([0, 0, 0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

/**
 * The Submittable `pg` runs: `submit` writes the messages; `pg` hands each
 * server message for it to a `handle…` method, and ReadyForQuery ends it (after
 * an error too, once the server reached the Sync).
 */
class BinaryParameterStatement {
  private failed = false;
  private readonly parse: Buffer;
  private readonly values: readonly Buffer[];
  private readonly resolve: () => void;
  private readonly reject: (error: Error) => void;

  constructor(parse: Buffer, values: readonly Buffer[], resolve: () => void, reject: (error: Error) => void) {
    this.parse = parse;
    this.values = values;
    this.resolve = resolve;
    this.reject = reject;
  }

  submit(connection: { stream: Socket }): void {
    const stream = connection.stream;
    stream.cork();
    stream.write(this.parse);
    for (const value of this.values) {
      stream.write(bindHead(value.length));
      stream.write(value);
      stream.write(BIND_TAIL_AND_EXECUTE);
    }
    stream.write(SYNC);
    stream.uncork();
  }

  handleError(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(error);
  }

  handleReadyForQuery(): void {
    if (!this.failed) this.resolve();
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}

  /** Not expected of these statements: refused, so the connection stays usable. */
  handleCopyInResponse(connection: { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('pgcdc sends no COPY data');
  }
}
