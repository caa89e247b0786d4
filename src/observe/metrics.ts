/**
 * Prometheus metrics of one change stream (prom-client). Each stream gets its own
 * registry, so several streams (pipelines) can live in one process. Gauges are
 * read from the stream's stats when scraped; counters are bumped per batch.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChangeEvent } from '../events/change-event.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { StreamStats } from '../engine/change-stream.ts';

const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost'] as const;

export class StreamMetrics {
  readonly registry = new Registry();
  private readonly events: Counter<'slot' | 'table' | 'op'>;
  private readonly deadLetters: Counter<'slot' | 'stage'>;
  private readonly sinkRecords: Counter<'slot' | 'sink' | 'table'>;
  private readonly sinkBytes: Counter<'slot' | 'sink' | 'table'>;
  private readonly sinkWriteSeconds: Histogram<'slot' | 'sink'>;
  private readonly sinkRetries: Counter<'slot' | 'sink'>;
  private readonly lagSeconds: Gauge<'slot'>;
  private readonly slot: string;

  /** `stats`: undefined while the pipeline waits as a standby (no stream). `active`: whether it streams (holds the slot's lease). */
  constructor(slot: string, stats: () => StreamStats | undefined, active: () => boolean = () => true) {
    this.slot = slot;
    const registry = this.registry;
    this.events = new Counter({ name: 'pgcdc_events_total', help: 'Events handed to the consumer, by table (or message prefix) and operation', labelNames: ['slot', 'table', 'op'], registers: [registry] });
    this.deadLetters = new Counter({ name: 'pgcdc_dead_letters_total', help: 'Events rejected for good, by the stage that rejected them (a transform, or the sink)', labelNames: ['slot', 'stage'], registers: [registry] });
    this.sinkRecords = new Counter({ name: 'pgcdc_sink_records_total', help: 'Records the sink confirmed, by table (or message prefix)', labelNames: ['slot', 'sink', 'table'], registers: [registry] });
    this.sinkBytes = new Counter({ name: 'pgcdc_sink_bytes_total', help: 'Bytes of record values the sink confirmed, by table (or message prefix)', labelNames: ['slot', 'sink', 'table'], registers: [registry] });
    this.sinkWriteSeconds = new Histogram({
      name: 'pgcdc_sink_write_seconds', help: 'Time from handing a batch to the sink to its confirmation (successful writes)', labelNames: ['slot', 'sink'], registers: [registry],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.lagSeconds = new Gauge({ name: 'pgcdc_lag_seconds', help: "Time from the commit of the newest change in the last confirmed sink write to that confirmation (Debezium's MilliSecondsBehindSource, in seconds)", labelNames: ['slot'], registers: [registry] });
    this.sinkRetries = new Counter({ name: 'pgcdc_sink_retries_total', help: 'Sink writes that failed and were retried', labelNames: ['slot', 'sink'], registers: [registry] });
    const gauge = (name: string, help: string, read: (s: StreamStats) => number | undefined) =>
      new Gauge({
        name, help, labelNames: ['slot'], registers: [registry],
        collect() {
          const current = stats();
          const value = current === undefined ? undefined : read(current);
          if (value !== undefined) this.set({ slot }, value);
        },
      });
    new Gauge({
      name: 'pgcdc_pipeline_active', help: '1 while this instance streams the slot, 0 while it waits as a standby for the lease (docs/run.md, "Standby instances")', labelNames: ['slot'], registers: [registry],
      collect() { this.set({ slot }, active() ? 1 : 0); },
    });
    gauge('pgcdc_slot_retained_wal_bytes', 'WAL the slot keeps on the server (current WAL position − restart_lsn)', (s) => s.retainedWalBytes);
    gauge('pgcdc_lag_bytes', 'Received but not yet acknowledged WAL (last received − acknowledged position)', (s) => Number(s.lastReceivedLsn > s.safeLsn ? s.lastReceivedLsn - s.safeLsn : 0n));
    gauge('pgcdc_acknowledged_lsn', 'Position acknowledged to the server (as a number)', (s) => Number(s.safeLsn));
    gauge('pgcdc_queued_events', 'Events waiting for the consumer', (s) => s.queuedEvents);
    gauge('pgcdc_buffered_bytes', 'Estimated memory held by open transactions', (s) => s.memoryUsed);
    gauge('pgcdc_buffered_bytes_peak', 'The most the open transactions held at once since the stream opened (estimated; the memory budget bounds it but for the one change that starts a spill)', (s) => s.memoryPeak);
    gauge('pgcdc_received_bytes', 'pgoutput bytes received', (s) => s.bytesReceived);
    gauge('pgcdc_heartbeats_sent', 'Heartbeat messages written', (s) => s.heartbeatsSent);
    new Gauge({
      name: 'pgcdc_snapshot_rows', help: 'Rows of the initial snapshot confirmed so far, for the table being read', labelNames: ['slot', 'table'], registers: [registry],
      collect() {
        const snapshot = stats()?.snapshot;
        if (snapshot !== undefined && snapshot.table !== '') this.set({ slot, table: snapshot.table }, snapshot.rows);
      },
    });
    gauge('pgcdc_snapshot_tables_done', 'Tables the initial snapshot has finished', (s) => s.snapshot?.tablesDone);
    gauge('pgcdc_snapshot_done', '1 once the initial snapshot is complete', (s) => (s.snapshot === undefined ? undefined : s.snapshot.done ? 1 : 0));
    new Gauge({
      name: 'pgcdc_incremental_snapshot_rows', help: 'Rows of the incremental snapshot confirmed so far, per table', labelNames: ['slot', 'table'], registers: [registry],
      collect() {
        const progress = stats()?.incrementalSnapshot;
        if (progress !== undefined) this.set({ slot, table: progress.table }, progress.rows);
      },
    });
    gauge('pgcdc_incremental_snapshot_tables_queued', 'Tables the incremental snapshot has still to finish (the one being read included)', (s) => s.incrementalSnapshot?.tablesQueued);
    new Gauge({
      name: 'pgcdc_slot_wal_status', help: "The slot's wal_status (1 for the current one)", labelNames: ['slot', 'status'], registers: [registry],
      collect() {
        const current = stats()?.walStatus;
        if (current === undefined) return;
        for (const status of WAL_STATUSES) this.set({ slot, status }, status === current ? 1 : 0);
      },
    });
  }

  /**
   * Counts a confirmed batch. Counts are summed per label set first: prom-client
   * hashes the labels on every inc(), which per event would cost more than the
   * rest of the hot path.
   */
  observe(events: ChangeEvent[], deadLetters: DeadLetter[]): void {
    const counts = new Map<string, number>();
    for (const event of events) {
      const key = `${event.op}\u0000${tableLabel(event)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) {
      const [op, table] = key.split('\u0000') as [string, string];
      this.events.inc({ slot: this.slot, table, op }, n);
    }
    this.observeDeadLetters(deadLetters);
  }

  /**
   * A successful sink write (`pgcdc run`): its duration, the lag, and what it
   * carried per table and operation (tallied when its batches were prepared,
   * added once per label set here). It also counts `pgcdc_events_total`: in a
   * pipeline the events handed out are exactly the records written.
   */
  observeSinkWrite(sink: string, seconds: number, tallies: readonly RecordTally[]): void {
    this.sinkWriteSeconds.observe({ slot: this.slot, sink }, seconds);
    let newestCommit = 0;
    const totals = new Map<string, TallyRow>();
    for (const tally of tallies) {
      if (tally.newestCommitMs > newestCommit) newestCommit = tally.newestCommitMs;
      for (const [key, row] of tally.rows) {
        const t = totals.get(key);
        if (t === undefined) totals.set(key, { ...row });
        else { t.records += row.records; t.bytes += row.bytes; }
      }
    }
    if (newestCommit > 0) this.lagSeconds.set({ slot: this.slot }, Math.max(0, (Date.now() - newestCommit) / 1000));
    for (const t of totals.values()) {
      this.events.inc({ slot: this.slot, table: t.table, op: t.op }, t.records);
      this.sinkRecords.inc({ slot: this.slot, sink, table: t.table }, t.records);
      this.sinkBytes.inc({ slot: this.slot, sink, table: t.table }, t.bytes);
    }
  }

  sinkRetry(sink: string): void {
    this.sinkRetries.inc({ slot: this.slot, sink });
  }

  deadLettered(stage: string, n: number): void {
    this.deadLetters.inc({ slot: this.slot, stage }, n);
  }

  /** Dead letters of transforms, by the stage that rejected them. */
  observeDeadLetters(deadLetters: DeadLetter[]): void {
    for (const d of deadLetters) this.deadLetters.inc({ slot: this.slot, stage: d.stage });
  }
}

interface TallyRow { table: string; op: string; records: number; bytes: number }

/** What some records carry, per table and operation, for `observeSinkWrite`. */
export interface RecordTally {
  readonly rows: ReadonlyMap<string, TallyRow>;
  /** Newest commit time among them (Unix ms; snapshot rows do not count), 0 if none. */
  readonly newestCommitMs: number;
}

/**
 * What the sink took of `records`: all of them but those it refused for good
 * (those are dead letters, not confirmed records).
 */
export function tallyAccepted<R extends { value: string; event: ChangeEvent }>(records: readonly R[], refused: ReadonlyArray<{ record: R }>): RecordTally {
  if (refused.length === 0) return tallyRecords(records);
  const set = new Set(refused.map((r) => r.record));
  return tallyRecords(records.filter((r) => !set.has(r)));
}

/**
 * Counted when a batch is prepared, so that its events need not be kept until
 * it is written. The rows of a batch are found by comparing each event's table
 * and operation with the previous one's (batches are mostly runs of one table),
 * not by a key string built per event: that showed as 2% of `pgcdc run`.
 */
export function tallyRecords(records: ReadonlyArray<{ value: string; event: ChangeEvent }>): RecordTally {
  let newestCommitMs = 0;
  const list: CountedRow[] = [];
  /** The rows by table name (or prefix): a batch may span thousands of tables. */
  const byName = new Map<string, CountedRow[]>();
  let t: CountedRow | undefined;
  for (const record of records) {
    const event = record.event;
    const committed = event.source.ts_ms;
    const op = event.op;
    if (committed !== null && committed > newestCommitMs && op !== 'r') newestCommitMs = committed;
    // Messages are counted by prefix, table events by schema and table.
    const space = op === 'm' ? '' : event.source.schema;
    const name = op === 'm' ? event.message!.prefix : event.source.table;
    if (t === undefined || t.name !== name || t.op !== op || t.space !== space) {
      let named = byName.get(name);
      if (named === undefined) byName.set(name, named = []);
      t = named.find((row) => row.op === op && row.space === space);
      if (t === undefined) {
        t = { table: tableLabel(event), op, records: 0, bytes: 0, space, name };
        named.push(t);
        list.push(t);
      }
    }
    t.records++;
    t.bytes += record.value.length; // UTF-16 units: exact for ASCII JSON, cheap to count
  }
  const rows = new Map<string, TallyRow>();
  for (const { table, op, records: count, bytes } of list) {
    const key = `${op}\u0000${table}`;
    const row = rows.get(key);
    // A schema "a.b" with table "c" and a schema "a" with table "b.c" share a label: one row, as before.
    if (row === undefined) rows.set(key, { table, op, records: count, bytes });
    else {
      row.records += count;
      row.bytes += bytes;
    }
  }
  return { rows, newestCommitMs };
}

/**
 * A tally less the records the sink refused only while writing, after the
 * batch was counted: `rejected` from index `from` on (RabbitMQ's returned
 * messages, with `mandatory`).
 */
export function tallyWithout(tally: RecordTally, rejected: ReadonlyArray<{ record: { value: string; event: ChangeEvent } }>, from: number): RecordTally {
  if (rejected.length <= from) return tally;
  const less = tallyRecords(rejected.slice(from).map((r) => r.record)).rows;
  const rows = new Map<string, TallyRow>();
  for (const [key, row] of tally.rows) {
    const minus = less.get(key);
    if (minus === undefined) rows.set(key, row);
    else if (row.records > minus.records) rows.set(key, { ...row, records: row.records - minus.records, bytes: row.bytes - minus.bytes });
  }
  return { rows, newestCommitMs: tally.newestCommitMs };
}

/** A row of the tally while it is counted, with what identifies it. */
interface CountedRow extends TallyRow {
  space: string;
  name: string;
}

function tableLabel(event: ChangeEvent): string {
  return event.op === 'm' ? `message:${event.message!.prefix}` : `${event.source.schema}.${event.source.table}`;
}
