/**
 * Events: the live tail (server-sent events from /api/tail), filtered on the
 * server by pipeline, table, operation, message prefix and key. Pause closes
 * the stream (a paused page costs the pipeline nothing).
 */
import { useEffect, useState } from 'preact/hooks';
import { usePoll } from '../api.ts';
import { OPS, time } from '../format.ts';
import type { Overview, TailEntry } from '../types.ts';

const KEEP = 500;

interface Filter { pipeline: string; tables: string; ops: string[]; prefixes: string; key: string }

export function EventsPage() {
  const overview = usePoll<Overview>('/api/overview', 10_000).data;
  const [draft, setDraft] = useState<Filter>({ pipeline: '', tables: '', ops: [], prefixes: '', key: '' });
  const [filter, setFilter] = useState<Filter>(draft);
  const [paused, setPaused] = useState(false);
  const [entries, setEntries] = useState<TailEntry[]>([]);
  const [unshown, setUnshown] = useState(0);
  const [connected, setConnected] = useState(false);
  const [selected, setSelected] = useState<TailEntry | undefined>(undefined);

  useEffect(() => {
    if (paused) { setConnected(false); return; }
    const query = new URLSearchParams();
    if (filter.pipeline) query.set('pipeline', filter.pipeline);
    if (filter.tables.trim()) query.set('table', filter.tables);
    if (filter.ops.length) query.set('op', filter.ops.join(','));
    if (filter.prefixes.trim()) query.set('prefix', filter.prefixes);
    if (filter.key.trim()) query.set('key', filter.key.trim());
    const source = new EventSource(`/api/tail?${query}`);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    source.addEventListener('tail', (message) => {
      const batch = JSON.parse((message as MessageEvent<string>).data) as { entries: TailEntry[]; unshown: number };
      if (batch.entries.length) setEntries((old) => [...batch.entries.reverse(), ...old].slice(0, KEEP));
      if (batch.unshown) setUnshown((n) => n + batch.unshown);
    });
    return () => source.close();
  }, [filter, paused]);

  const toggleOp = (op: string) => setDraft({ ...draft, ops: draft.ops.includes(op) ? draft.ops.filter((o) => o !== op) : [...draft.ops, op] });

  return (
    <div class="split">
      <div class="stack grow">
        <form class="filters card" onSubmit={(e) => { e.preventDefault(); setEntries([]); setUnshown(0); setFilter(draft); }}>
          <label>pipeline
            <select value={draft.pipeline} onChange={(e) => setDraft({ ...draft, pipeline: e.currentTarget.value })}>
              <option value="">all</option>
              {overview?.pipelines.map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
            </select>
          </label>
          <label>tables <input name="tables" placeholder="public.orders, …" value={draft.tables} onInput={(e) => setDraft({ ...draft, tables: e.currentTarget.value })} /></label>
          <fieldset class="ops">
            {Object.entries(OPS).map(([op, name]) => (
              <label key={op} class="check"><input type="checkbox" name={`op-${op}`} checked={draft.ops.includes(op)} onChange={() => toggleOp(op)} />{name}</label>
            ))}
          </fieldset>
          <label>message prefix <input name="prefixes" placeholder="outbox, audit" value={draft.prefixes} onInput={(e) => setDraft({ ...draft, prefixes: e.currentTarget.value })} /></label>
          <label>key contains <input name="key" placeholder='"id":42' value={draft.key} onInput={(e) => setDraft({ ...draft, key: e.currentTarget.value })} /></label>
          <button type="submit">apply</button>
          <button type="button" data-testid="pause" onClick={() => setPaused(!paused)}>{paused ? 'resume' : 'pause'}</button>
          <span class={`dot ${connected ? 'on' : 'off'}`} title={connected ? 'live' : 'not connected'} />
        </form>
        {unshown > 0 && (
          <p class="notice" data-testid="sampled">Sampled: {unshown.toLocaleString('en-US')} events went by unshown; the live view shows at most {overview?.tailLimitPerSecond ?? 200} per second.</p>
        )}
        <table class="grid events" data-testid="events">
          <thead><tr><th>time</th><th>pipeline</th><th>op</th><th>table</th><th>key</th><th>topic</th></tr></thead>
          <tbody>
            {entries.map((e) => (
              <tr key={`${e.pipeline}/${e.id}`} class={selected === e ? 'selected' : ''} onClick={() => setSelected(e)}>
                <td class="nowrap">{time(e.tsMs)}</td><td>{e.pipeline}</td><td><span class={`op op-${e.op}`}>{OPS[e.op] ?? e.op}</span></td>
                <td>{e.table}</td><td class="mono">{e.key ?? ''}</td><td class="mono">{e.topic}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {entries.length === 0 && <p class="muted">{paused ? 'paused' : 'waiting for events that match…'}</p>}
      </div>
      {selected && (
        <aside class="detail card" data-testid="event-detail">
          <header class="card-head"><h3>{OPS[selected.op] ?? selected.op} {selected.table}</h3><button onClick={() => setSelected(undefined)}>close</button></header>
          <dl>
            <dt>id</dt><dd class="mono">{selected.id}</dd>
            <dt>topic</dt><dd class="mono">{selected.topic}</dd>
            <dt>key</dt><dd class="mono">{selected.key ?? 'none'}</dd>
            {Object.keys(selected.headers).length > 0 && <><dt>headers</dt><dd class="mono">{JSON.stringify(selected.headers)}</dd></>}
          </dl>
          <pre>{JSON.stringify(selected.value, null, 2)}</pre>
        </aside>
      )}
    </div>
  );
}
