/**
 * Watches the slot's retained WAL (current WAL position − restart_lsn) and
 * wal_status. Warns when the slot holds more than a threshold, and when
 * wal_status turns `unreserved` (the server is about to remove WAL the slot
 * still needs: the consumer must catch up now) or `lost` (it removed it: the
 * slot can no longer stream everything).
 */
import { humanBytes } from '../core/bytes.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import { findSlot } from '../source/slots.ts';

export interface SlotHealthOptions {
  intervalMs: number;
  warnBytes: number;
  warn: (message: string) => void;
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
      } catch {
        // A failed check is retried at the next interval; streaming is unaffected.
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
