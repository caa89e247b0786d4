/**
 * One active pgcdc per slot: the lease (docs/decisions/0011-one-active-instance.md).
 *
 * Several `pgcdc run` with the same configuration (on several hosts) share one
 * slot; exactly one may stream and deliver. What PostgreSQL already offers does
 * the work, with no table and no privilege beyond the pipeline's own role:
 *
 * - **Who is active**: the holder of a session advisory lock named after the
 *   slot, on a connection of its own. A holder that dies (SIGKILL, host gone
 *   with its TCP connection reset) loses the lock with its session, at once.
 * - **Whether it is alive**: the holder runs a query on that connection every
 *   `ttl / 4`; its `query_start` in pg_stat_activity is the lease's last
 *   renewal, by the server's clock. A holder silent for longer than `ttl`
 *   (frozen, or its network cut while the session lingers) has let its lease
 *   expire: a waiting instance then terminates the holder's sessions (the lock
 *   connection and the slot's walsender) and takes the lock.
 * - **Fencing**: the holder may deliver only until its own deadline, the time it
 *   *sent* its last successful renewal plus `ttl`. The server started that query
 *   after it was sent, so the deadline passes before any other instance can see
 *   the lease expired. A holder resumed after a freeze finds its deadline
 *   passed and writes nothing more; it cannot acknowledge either, as its
 *   walsender was terminated. (What no lease closes: a write already inside
 *   the sink's client when the process froze. docs/lsn-and-acks.md.)
 *
 * Hand-written rather than a library: it is a few queries, and the order of
 * its checks is the guarantee.
 */
import { hostname } from 'node:os';
import { CdcError } from '../core/errors.ts';
import { sleep } from '../core/abort.ts';
import { SqlConnection } from '../source/sql-connection.ts';
import type { ConnectionTarget } from '../source/connection-config.ts';

/** The advisory lock's first key: "pgcd". The second is hashtext('pgcdc lease ' || slot). */
const LOCK_CLASS = 0x70676364;

export interface SlotLeaseOptions {
  target: ConnectionTarget;
  slot: string;
  ttlMs: number;
  onNotice: (message: string) => void;
}

export class SlotLease {
  private readonly options: SlotLeaseOptions;
  /** Names this instance in pg_stat_activity (application_name) and in other instances' logs. */
  readonly holder = `pgcdc ${hostname()}:${process.pid}`;
  private connection: SqlConnection | undefined;
  /** performance.now() until which this instance may deliver; 0 while it does not hold the lease. */
  private deadline = 0;
  private renewal: NodeJS.Timeout | undefined;
  /** Called once when a held lease is lost (renewal refused or failed, deadline passed). */
  onLost: (reason: string) => void = () => undefined;

  constructor(options: SlotLeaseOptions) {
    this.options = options;
  }

  get held(): boolean {
    return this.deadline > 0 && performance.now() < this.deadline;
  }

  /** Throws (retriably) unless this instance holds the lease now: checked before every sink write and acknowledgement. */
  assertHeld(): void {
    if (this.held) return;
    throw new CdcError('PGCDC_LEASE_LOST', `pgcdc no longer holds the lease on slot ${this.options.slot} (another instance may have taken over); delivering nothing more until it holds it again`, { retriable: true });
  }

  /**
   * Waits until this instance holds the lease: takes the lock when it is free,
   * and when its holder's lease expired, fences that holder first. `onWaiting`
   * is told once who holds it.
   */
  async acquire(signal: AbortSignal): Promise<void> {
    // A lease that ran out without its renewal noticing yet: end it first, so
    // that its timer and connection do not outlive it into the new one.
    if (this.deadline !== 0) await this.lost(`its lease ran out (the process or its connection stalled for more than ${this.options.ttlMs} ms)`);
    let told = false;
    const poll = Math.min(500, Math.max(50, this.options.ttlMs / 4));
    while (!signal.aborted) {
      try {
        if (await this.tryAcquire()) return;
        const current = await this.currentHolder();
        if (current !== undefined && current.silentMs > this.options.ttlMs) {
          this.options.onNotice(`slot ${this.options.slot}: the active instance (${current.name}) has been silent for ${current.silentMs} ms, past the ${this.options.ttlMs} ms lease; ending its sessions and taking over`);
          await this.fence();
          continue;
        }
        if (!told) {
          told = true;
          this.options.onNotice(`standby: slot ${this.options.slot} is streamed by ${current?.name ?? 'another instance'}; taking over if its lease (${this.options.ttlMs} ms) expires`);
        }
      } catch (error) {
        // The database may be failing over: keep waiting, on a new connection.
        await this.dropConnection();
        if (!told) this.options.onNotice(`standby: cannot check the lease on slot ${this.options.slot}: ${(error as Error).message}`);
      }
      await sleep(poll, signal);
    }
  }

  /** Takes the lock if it is free; true when this instance holds the lease. */
  async tryAcquire(): Promise<boolean> {
    const connection = await this.open();
    const sent = performance.now();
    const [row] = await connection.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_CLASS}, hashtext('pgcdc lease ' || $1)) AS locked`, [this.options.slot]);
    if (!row!.locked) return false;
    this.deadline = sent + this.options.ttlMs;
    clearInterval(this.renewal);
    this.renewal = setInterval(() => void this.renew(), Math.max(20, this.options.ttlMs / 4));
    this.renewal.unref();
    return true;
  }

  /** Gives the lease up (a clean stop): another instance takes over at once. */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    this.deadline = 0;
    await this.dropConnection();
  }

  private async renew(): Promise<void> {
    if (this.deadline === 0) return;
    const sent = performance.now();
    if (sent >= this.deadline) return this.lost(`its lease ran out before it could renew it (the process or its connection stalled for more than ${this.options.ttlMs} ms)`);
    try {
      // Any query renews: its query_start is what other instances read.
      await this.connection!.query('SELECT 1');
      if (this.deadline !== 0) this.deadline = sent + this.options.ttlMs;
    } catch (error) {
      await this.lost(`its lease connection failed: ${(error as Error).message}`);
    }
  }

  private async lost(reason: string): Promise<void> {
    if (this.deadline === 0) return;
    clearInterval(this.renewal);
    this.deadline = 0;
    await this.dropConnection();
    this.onLost(`pgcdc lost the lease on slot ${this.options.slot}: ${reason}`);
  }

  /** The lock's holder, and how long since its session last ran a query (by the server's clock). */
  private async currentHolder(): Promise<{ name: string; silentMs: number } | undefined> {
    const [row] = await this.connection!.query<{ name: string; silent_ms: number }>(`
      SELECT coalesce(nullif(a.application_name, ''), 'pid ' || a.pid) || coalesce(' from ' || host(a.client_addr), '') AS name,
             (extract(epoch FROM clock_timestamp() - greatest(a.query_start, a.backend_start)) * 1000)::int AS silent_ms
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.classid = ${LOCK_CLASS}::int4::oid AND l.objid = hashtext('pgcdc lease ' || $1)::oid`, [this.options.slot]);
    return row === undefined ? undefined : { name: row.name, silentMs: row.silent_ms };
  }

  /** Ends the expired holder's sessions: its lock connection (the lock is freed) and the slot's walsender (it can acknowledge nothing more). */
  private async fence(): Promise<void> {
    await this.connection!.query(`
      SELECT pg_terminate_backend(pid) FROM (
        SELECT l.pid FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
           AND l.classid = ${LOCK_CLASS}::int4::oid AND l.objid = hashtext('pgcdc lease ' || $1)::oid
        UNION
        SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL
      ) holders`, [this.options.slot]);
  }

  private async open(): Promise<SqlConnection> {
    this.connection ??= await SqlConnection.open(this.options.target, {}, this.holder);
    return this.connection;
  }

  private async dropConnection(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close();
  }
}
