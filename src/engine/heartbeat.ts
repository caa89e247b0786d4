/**
 * Heartbeats: every interval, a non-transactional logical decoding message
 * `pg_logical_emit_message(false, 'heartbeat', now()::text)` is written to the
 * source database. It travels through the slot like any change, so the slot
 * advances past it even when the database itself is idle (while other databases
 * on the server fill the shared WAL). The stream recognises its own heartbeats
 * by prefix and acknowledges them without delivering them.
 */
import type { SqlConnection } from '../source/sql-connection.ts';

export interface HeartbeatOptions {
  /** Milliseconds between heartbeats (default 10,000). */
  intervalMs?: number;
  /** Message prefix (default `heartbeat`). */
  prefix?: string;
  /** Deliver heartbeat messages as events too (default false). */
  deliver?: boolean;
}

export class Heartbeat {
  readonly prefix: string;
  private readonly intervalMs: number;
  private readonly sql: SqlConnection;
  private readonly onError: (error: Error) => void;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  /** Heartbeats written so far. */
  sent = 0;

  constructor(sql: SqlConnection, options: HeartbeatOptions, onError: (error: Error) => void) {
    this.sql = sql;
    this.prefix = options.prefix ?? 'heartbeat';
    this.intervalMs = options.intervalMs ?? 10_000;
    this.onError = onError;
  }

  start(): void {
    this.timer = setInterval(() => this.beat(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes one heartbeat now (the timer calls this). */
  beat(): void {
    if (this.running) return; // the previous one is still in flight: skip, never pile up
    this.running = this.sql
      .query('SELECT pg_logical_emit_message(false, $1, now()::text)', [this.prefix])
      .then(() => { this.sent++; }, (error: Error) => this.onError(error))
      .finally(() => { this.running = undefined; });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
