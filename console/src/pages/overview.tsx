/** Overview: each pipeline's state, throughput, lag and retained WAL, live over the last hour. */
import { usePoll } from '../api.ts';
import { Chart, formatBytes, formatRate, formatSeconds } from '../chart.tsx';
import { bytes, count, seconds, time } from '../format.ts';
import type { Overview, PipelineOverview } from '../types.ts';

export function OverviewPage() {
  const { data, error } = usePoll<Overview>('/api/overview', 2000);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">loading…</p>;
  return (
    <div class="stack">
      {data.pipelines.map((p) => <PipelineCard key={p.name} pipeline={p} />)}
      <p class="muted small">Sampled every {data.sampleSeconds} s from the same metrics as /metrics; charts keep the last hour.</p>
    </div>
  );
}

function walLevel(p: PipelineOverview): 'ok' | 'warn' | 'bad' {
  if (p.walStatus === 'lost' || p.walStatus === 'unreserved') return 'bad';
  if (p.retainedWalBytes !== null && p.retainedWalBytes > p.retainedWalWarnBytes) return 'warn';
  return 'ok';
}

function PipelineCard({ pipeline: p }: { pipeline: PipelineOverview }) {
  const h = p.history;
  const level = walLevel(p);
  return (
    <section class="card" data-testid={`pipeline-${p.name}`}>
      <header class="card-head">
        <h2>{p.name}</h2>
        <span class={`badge state-${p.state}`} data-testid="state">{p.state}</span>
        <span class="muted">slot <b>{p.slot}</b> → {p.sink}</span>
      </header>
      <div class="stats">
        <Stat label="events/s" value={formatRate(p.eventsPerSecond)} testId="events-per-second" />
        <Stat label="lag" value={`${bytes(p.lagBytes)} · ${seconds(p.lagSeconds)}`} testId="lag" />
        <Stat label="retained WAL" value={bytes(p.retainedWalBytes)} hint={`warns above ${bytes(p.retainedWalWarnBytes)}; wal_status ${p.walStatus ?? '–'}`} level={level} testId="retained-wal" />
        <Stat label="events" value={count(p.events)} />
        <Stat label="dead letters" value={count(p.deadLetters)} level={p.deadLetters > 0 ? 'warn' : 'ok'} />
        <Stat label="retries" value={count(p.retries)} />
        <Stat label="acknowledged" value={p.acknowledgedLsn ?? '–'} />
      </div>
      {p.lastError && (
        <p class="error" data-testid="last-error">last error {time(Date.parse(p.lastError.at))}{p.lastError.code ? ` (${p.lastError.code})` : ''}: {p.lastError.message}</p>
      )}
      <div class="charts">
        <Chart title="events per second" testId="chart-events" t={h.t} lines={[{ label: 'events/s', values: h.eventsPerSecond, color: '#3fb950', format: formatRate }]} />
        <Chart title="lag" testId="chart-lag" t={h.t} lines={[
          { label: 'seconds', values: h.lagSeconds, color: '#d29922', format: formatSeconds },
          { label: 'bytes', values: h.lagBytes, color: '#58a6ff', scale: 'bytes', format: formatBytes },
        ]} />
        <Chart title="retained WAL" testId="chart-wal" t={h.t} lines={[{ label: 'retained', values: h.retainedWalBytes, color: '#a371f7', format: formatBytes }]} />
      </div>
    </section>
  );
}

function Stat(props: { label: string; value: string; hint?: string; level?: 'ok' | 'warn' | 'bad'; testId?: string }) {
  return (
    <div class={`stat level-${props.level ?? 'ok'}`} title={props.hint} data-testid={props.testId}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
    </div>
  );
}
