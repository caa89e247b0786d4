/**
 * Prometheus metrics of one change stream (prom-client). Each stream gets its own
 * registry, so several streams (pipelines) can live in one process. Gauges are
 * read from the stream's stats when scraped; counters are bumped per batch.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ChangeEvent } from '../events/change-event.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { StreamStats } from '../engine/change-stream.ts';

const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost'] as const;

export class StreamMetrics {
  readonly registry = new Registry();
  private readonly events: Counter<'slot' | 'table' | 'op'>;
  private readonly deadLetters: Counter<'slot' | 'stage'>;
  private readonly slot: string;

  constructor(slot: string, stats: () => StreamStats) {
    this.slot = slot;
    const registry = this.registry;
    this.events = new Counter({ name: 'pgcdc_events_total', help: 'Events handed to the consumer, by table (or message prefix) and operation', labelNames: ['slot', 'table', 'op'], registers: [registry] });
    this.deadLetters = new Counter({ name: 'pgcdc_dead_letters_total', help: 'Events rejected by a transform', labelNames: ['slot', 'stage'], registers: [registry] });
    const gauge = (name: string, help: string, read: (s: StreamStats) => number | undefined) =>
      new Gauge({
        name, help, labelNames: ['slot'], registers: [registry],
        collect() {
          const value = read(stats());
          if (value !== undefined) this.set({ slot }, value);
        },
      });
    gauge('pgcdc_slot_retained_wal_bytes', 'WAL the slot keeps on the server (current WAL position − restart_lsn)', (s) => s.retainedWalBytes);
    gauge('pgcdc_lag_bytes', 'Received but not yet acknowledged WAL (last received − acknowledged position)', (s) => Number(s.lastReceivedLsn > s.safeLsn ? s.lastReceivedLsn - s.safeLsn : 0n));
    gauge('pgcdc_acknowledged_lsn', 'Position acknowledged to the server (as a number)', (s) => Number(s.safeLsn));
    gauge('pgcdc_queued_events', 'Events waiting for the consumer', (s) => s.queuedEvents);
    gauge('pgcdc_buffered_bytes', 'Estimated memory held by open transactions', (s) => s.memoryUsed);
    gauge('pgcdc_received_bytes', 'pgoutput bytes received', (s) => s.bytesReceived);
    gauge('pgcdc_heartbeats_sent', 'Heartbeat messages written', (s) => s.heartbeatsSent);
    new Gauge({
      name: 'pgcdc_slot_wal_status', help: "The slot's wal_status (1 for the current one)", labelNames: ['slot', 'status'], registers: [registry],
      collect() {
        const current = stats().walStatus;
        if (current === undefined) return;
        for (const status of WAL_STATUSES) this.set({ slot, status }, status === current ? 1 : 0);
      },
    });
  }

  /** Counts a delivered batch. */
  observe(events: ChangeEvent[], deadLetters: DeadLetter[]): void {
    for (const event of events) {
      const table = event.op === 'm' ? `message:${event.message!.prefix}` : `${event.source.schema}.${event.source.table}`;
      this.events.inc({ slot: this.slot, table, op: event.op });
    }
    for (const d of deadLetters) this.deadLetters.inc({ slot: this.slot, stage: d.stage });
  }
}
