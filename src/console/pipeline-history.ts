/**
 * The console's charts: each pipeline's numbers every SAMPLE_MS over the last
 * hour. One source of truth: the numbers are read from the pipeline's own
 * Prometheus metrics (prom-client's `get()`, which runs the same collect as a
 * scrape), so the console and /metrics never disagree. A sample costs a few
 * gauge reads every two seconds, watched or not: the hour must exist before
 * anyone opens the page.
 */
import type { Registry } from 'prom-client';
import type { Pipeline } from '../pipeline/pipeline.ts';

export const SAMPLE_MS = 2_000;
const KEEP_MS = 3_600_000;

export interface PipelineSample {
  /** Unix ms. */
  t: number;
  eventsPerSecond: number;
  /** pgcdc_lag_bytes: received and not yet acknowledged. */
  lagBytes: number;
  /** pgcdc_lag_seconds: commit → sink confirmation of the newest confirmed change. */
  lagSeconds: number;
  /** pgcdc_slot_retained_wal_bytes (null before the first slot check). */
  retainedWalBytes: number | null;
  /** Snapshot rows confirmed so far (initial + incremental), for rows/s. */
  snapshotRows: number;
}

/** Column-wise, as charts take them. */
export interface SampleSeries {
  t: number[];
  eventsPerSecond: number[];
  lagBytes: number[];
  lagSeconds: number[];
  retainedWalBytes: Array<number | null>;
}

interface Track {
  samples: PipelineSample[];
  lastEvents: number | undefined;
  lastAt: number;
}

export class PipelineHistory {
  private readonly pipelines: readonly Pipeline[];
  private readonly tracks = new Map<string, Track>();
  private timer: NodeJS.Timeout | undefined;

  constructor(pipelines: readonly Pipeline[]) {
    this.pipelines = pipelines;
    // Counters start at 0 with the process: what a pipeline delivered before the
    // first sample (a backlog drained in the first seconds) is in the first rate,
    // not taken as the baseline and never shown.
    const now = Date.now();
    for (const p of pipelines) this.tracks.set(p.name, { samples: [], lastEvents: 0, lastAt: now });
  }

  start(): void {
    const tick = () => void this.sampleAll().catch(() => undefined);
    this.timer = setInterval(tick, SAMPLE_MS);
    this.timer.unref();
    tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  latest(name: string): PipelineSample | undefined {
    return this.tracks.get(name)?.samples.at(-1);
  }

  series(name: string): SampleSeries {
    const series: SampleSeries = { t: [], eventsPerSecond: [], lagBytes: [], lagSeconds: [], retainedWalBytes: [] };
    for (const s of this.tracks.get(name)?.samples ?? []) {
      series.t.push(s.t / 1000);
      series.eventsPerSecond.push(s.eventsPerSecond);
      series.lagBytes.push(s.lagBytes);
      series.lagSeconds.push(s.lagSeconds);
      series.retainedWalBytes.push(s.retainedWalBytes);
    }
    return series;
  }

  /** Snapshot rows per second over the last ~10 s (0 when none moved). */
  snapshotRowsPerSecond(name: string): number {
    const samples = this.tracks.get(name)?.samples ?? [];
    const last = samples.at(-1);
    const first = samples.at(-6) ?? samples[0];
    if (last === undefined || first === undefined || last.t === first.t) return 0;
    return Math.max(0, (last.snapshotRows - first.snapshotRows) / ((last.t - first.t) / 1000));
  }

  private async sampleAll(): Promise<void> {
    for (const pipeline of this.pipelines) {
      const registry = pipeline.metrics?.registry;
      const track = this.tracks.get(pipeline.name)!;
      if (registry === undefined) continue;
      const now = Date.now();
      const events = await sum(registry, 'pgcdc_events_total');
      const elapsed = (now - track.lastAt) / 1000;
      const eventsPerSecond = track.lastEvents === undefined || elapsed <= 0 ? 0 : Math.max(0, (events - track.lastEvents) / elapsed);
      track.lastEvents = events;
      track.lastAt = now;
      const retained = await value(registry, 'pgcdc_slot_retained_wal_bytes');
      track.samples.push({
        t: now,
        eventsPerSecond: Math.round(eventsPerSecond * 10) / 10,
        lagBytes: (await value(registry, 'pgcdc_lag_bytes')) ?? 0,
        lagSeconds: (await value(registry, 'pgcdc_lag_seconds')) ?? 0,
        retainedWalBytes: retained ?? null,
        snapshotRows: (await sum(registry, 'pgcdc_snapshot_rows')) + (await sum(registry, 'pgcdc_incremental_snapshot_rows')),
      });
      while (track.samples.length > 0 && track.samples[0]!.t < now - KEEP_MS) track.samples.shift();
    }
  }
}

async function sum(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  return (await metric.get()).values.reduce((total, v) => total + v.value, 0);
}

async function value(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  return (await metric.get()).values[0]?.value;
}
