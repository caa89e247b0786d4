/** Snapshots: progress of the initial and incremental snapshots; start one (with a WHERE), pause, resume, stop. */
import { useState } from 'preact/hooks';
import { postJson, usePoll } from '../api.ts';
import { count, seconds } from '../format.ts';
import type { Snapshots } from '../types.ts';

function Progress(props: { percent: number; label: string; testId?: string }) {
  const percent = Math.max(0, Math.min(100, props.percent));
  return (
    <div class="progress" data-testid={props.testId} data-percent={Math.floor(percent)}>
      <div class="bar" style={{ width: `${percent}%` }} />
      <span>{props.label}</span>
    </div>
  );
}

export function SnapshotsPage() {
  const { data, error, refresh } = usePoll<Snapshots>('/api/snapshots', 1000);
  const [form, setForm] = useState<Record<string, { table: string; where: string }>>({});
  const [message, setMessage] = useState<string | undefined>(undefined);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">loading…</p>;

  const send = async (pipeline: string, action: 'start' | 'pause' | 'resume' | 'stop') => {
    const f = form[pipeline] ?? { table: '', where: '' };
    try {
      const result = await postJson<{ lsn: string; signal: { type: string } }>('/api/snapshots', { pipeline, action, table: f.table, where: f.where });
      setMessage(`${result.body.signal.type} signal written at ${result.body.lsn}`);
      refresh();
    } catch (e) {
      setMessage((e as Error).message);
    }
  };

  return (
    <div class="stack">
      {message && <p class="notice" data-testid="action-result">{message}</p>}
      {data.pipelines.map((p) => {
        const f = form[p.name] ?? { table: '', where: '' };
        const inc = p.incremental;
        const incDone = inc !== null && inc.tablesQueued === 0;
        const incPercent = inc === null ? 0 : incDone ? 100 : inc.estimatedRows > 0 ? Math.min(99, (100 * inc.rows) / inc.estimatedRows) : 0;
        return (
          <section class="card" key={p.name} data-testid={`snapshots-${p.name}`}>
            <header class="card-head"><h2>{p.name}</h2><span class="muted">{p.rowsPerSecond > 0 ? `${count(p.rowsPerSecond)} rows/s` : ''}</span></header>
            <h3>initial snapshot</h3>
            {p.initial === null ? <p class="muted">none in this run</p> : (
              <Progress testId="initial-progress"
                percent={p.initial.done ? 100 : (100 * (p.initial.tablesDone + (p.initial.estimatedRows > 0 ? Math.min(1, p.initial.rows / p.initial.estimatedRows) : 0))) / Math.max(1, p.initial.tables)}
                label={p.initial.done ? `done: ${p.initial.tables} table(s)` : `${p.initial.table}: ${count(p.initial.rows)} of about ${count(p.initial.estimatedRows)} rows · table ${p.initial.tablesDone + 1} of ${p.initial.tables} · ${seconds(p.initial.secondsLeft)} left`} />
            )}
            <h3>incremental snapshot</h3>
            {inc === null ? <p class="muted">none since this run started</p> : (
              <Progress testId="incremental-progress" percent={incPercent}
                label={`${inc.table}: ${count(inc.rows)}${inc.estimatedRows > 0 ? ` of about ${count(inc.estimatedRows)}` : ''} rows${incDone ? ' · done' : ` · ${inc.tablesQueued} table(s) to go${inc.paused ? ' · paused' : ''} · ${seconds(inc.secondsLeft)} left`}`} />
            )}
            {p.signals ? (
              <form class="filters" onSubmit={(e) => { e.preventDefault(); void send(p.name, 'start'); }}>
                <label>table <input name="table" required placeholder="public.orders" value={f.table} onInput={(e) => setForm({ ...form, [p.name]: { ...f, table: e.currentTarget.value } })} /></label>
                <label class="grow">where <input name="where" placeholder="created_at > now() - interval '1 day'" value={f.where} onInput={(e) => setForm({ ...form, [p.name]: { ...f, where: e.currentTarget.value } })} /></label>
                <button type="submit" data-testid="start-snapshot">start</button>
                <button type="button" onClick={() => void send(p.name, 'pause')}>pause</button>
                <button type="button" onClick={() => void send(p.name, 'resume')}>resume</button>
                <button type="button" class="danger" onClick={() => void send(p.name, 'stop')}>stop</button>
              </form>
            ) : <p class="muted">signals are off for this pipeline (snapshot.signals: false)</p>}
          </section>
        );
      })}
    </div>
  );
}
