/**
 * Watches the slot's retained WAL (current WAL position − restart_lsn) and
 * wal_status. Warns when the slot holds more than a threshold, and when
 * wal_status turns `unreserved` (the server is about to remove WAL the slot
 * still needs: the consumer must catch up now) or `lost` (it removed it: the
 * slot can no longer stream everything). With a publication, also watches for
 * tables that appear in it without a replica identity (a keyless table created
 * later under a user's FOR ALL TABLES publication): the application's UPDATE and
 * DELETE on them fail, which pgcdc cannot prevent there but says at once.
 */
import { humanBytes } from '../core/bytes.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { findSlot } from '../source/slots.ts';
import { identityFix, publishedWithoutIdentity } from '../source/replica-identity.ts';

/** Retained WAL above which pgcdc warns (1 GiB), unless the stream is told otherwise. */
export const DEFAULT_RETAINED_WAL_WARN_BYTES = 1024 ** 3;

export interface SlotHealthOptions {
  intervalMs: number;
  warnBytes: number;
  warn: (message: string) => void;
  /** The publication streamed (pgoutput), checked for keyless tables. */
  publication?: string;
}

export class SlotHealthMonitor {
  retainedWalBytes: number | undefined;
  walStatus: string | undefined;
  private readonly sql: SqlConnection;
  private readonly slot: string;
  private readonly options: SlotHealthOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private warnedSize = false;
  /** Keyless tables already named, so each is said once (the first check repeats what the start said). */
  private readonly keyless = new Set<string>();
  private checkedOnce = false;

  constructor(sql: SqlConnection, slot: string, options: SlotHealthOptions) {
    this.sql = sql;
    this.slot = slot;
    this.options = options;
  }

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  check(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const info = await findSlot(this.sql, this.slot);
        if (info === undefined) return;
        const previousStatus = this.walStatus;
        this.retainedWalBytes = info.retainedWalBytes ?? undefined;
        this.walStatus = info.walStatus ?? undefined;
        if ((this.walStatus === 'unreserved' || this.walStatus === 'lost') && previousStatus !== this.walStatus) {
          this.options.warn(`slot ${this.slot} wal_status is ${this.walStatus}: ${this.walStatus === 'lost' ? 'the server removed WAL the slot needed; changes were lost, take a new snapshot' : 'the server is about to remove WAL the slot still needs; the consumer must catch up (or raise max_slot_wal_keep_size)'}`);
        }
        const over = this.retainedWalBytes !== undefined && this.retainedWalBytes > this.options.warnBytes;
        if (over && !this.warnedSize) {
          this.options.warn(`slot ${this.slot} retains ${humanBytes(this.retainedWalBytes!)} of WAL (warning above ${humanBytes(this.options.warnBytes)}); the consumer is behind or the slot is idle`);
        }
        this.warnedSize = over;
        if (this.options.publication !== undefined) await this.checkPublication(this.options.publication);
      } catch {
        // A failed check is retried at the next interval; streaming is unaffected.
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async checkPublication(publication: string): Promise<void> {
    const fresh = (await publishedWithoutIdentity(this.sql, publication)).filter((t) => !this.keyless.has(`${t.schema}.${t.table}`));
    for (const t of fresh) this.keyless.add(`${t.schema}.${t.table}`);
    // The first check only learns what the start already reported.
    if (fresh.length === 0 || !this.checkedOnce) { this.checkedOnce = true; return; }
    this.options.warn(`warning: publication ${publication} now publishes updates and deletes of ${fresh.map((t) => `${t.schema}.${t.table}`).join(', ')}, which ${fresh.length === 1 ? 'has' : 'have'} no primary key or replica identity: the application's UPDATE and DELETE on ${fresh.length === 1 ? 'it' : 'them'} fail; run ${fresh.map(identityFix).join('; ')}`);
  }


  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
