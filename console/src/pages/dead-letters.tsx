/** Dead letters: what was rejected and why; retry (sent to the sink again) or discard, one or all. Decisions are kept in `<file>.decisions`. */
import { useState } from 'preact/hooks';
import { postJson, usePoll } from '../api.ts';
import { OPS, time } from '../format.ts';
import type { DeadLetter, DeadLetters } from '../types.ts';

export function DeadLettersPage() {
  const { data, error, refresh } = usePoll<DeadLetters>('/api/dead-letters', 5000);
  const [chosen, setChosen] = useState<Record<string, Set<number>>>({});
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<DeadLetter | undefined>(undefined);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">loading…</p>;

  const act = async (pipeline: string, action: 'retry' | 'discard', all: boolean) => {
    setBusy(true);
    setMessage(undefined);
    try {
      const lines = [...(chosen[pipeline] ?? [])];
      const result = await postJson<{ message?: string; retried?: number; discarded?: number }>(`/api/dead-letters/${action}`, all ? { pipeline, all: true } : { pipeline, lines });
      setMessage(result.body.message ?? `${result.body.discarded ?? result.body.retried ?? 0} dead letter(s) ${action === 'retry' ? 'retried' : 'discarded'}`);
      setChosen({ ...chosen, [pipeline]: new Set() });
      refresh();
    } catch (e) {
      setMessage((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="stack">
      {message && <p class="notice" data-testid="action-result">{message}</p>}
      {data.pipelines.map((p) => {
        const selected = chosen[p.name] ?? new Set<number>();
        const toggle = (line: number) => { const next = new Set(selected); if (!next.delete(line)) next.add(line); setChosen({ ...chosen, [p.name]: next }); };
        return (
          <section class="card" key={p.name} data-testid={`dead-letters-${p.name}`}>
            <header class="card-head">
              <h2>{p.name}</h2>
              <span class="muted">{p.path ? `${p.pending} pending of ${p.total} in ${p.path}` : 'no dead-letter file configured: dead letters are logged'}</span>
            </header>
            {p.path && (
              <div class="actions">
                <button disabled={busy || selected.size === 0} data-testid="retry-selected" onClick={() => void act(p.name, 'retry', false)}>retry selected</button>
                <button disabled={busy || selected.size === 0} onClick={() => void act(p.name, 'discard', false)}>discard selected</button>
                <button disabled={busy || p.pending === 0} onClick={() => void act(p.name, 'retry', true)}>retry all</button>
                <button disabled={busy || p.pending === 0} class="danger" onClick={() => { if (confirm(`Discard all ${p.pending} pending dead letters of ${p.name}?`)) void act(p.name, 'discard', true); }}>discard all</button>
              </div>
            )}
            {p.entries.length > 0 && (
              <table class="grid">
                <thead><tr><th /><th>#</th><th>time</th><th>op</th><th>table</th><th>stage</th><th>reason</th><th>decision</th></tr></thead>
                <tbody>
                  {p.entries.map((d) => (
                    <tr key={d.line} data-line={d.line} class={d.decision ? 'decided' : ''}>
                      <td><input type="checkbox" aria-label={`dead letter ${d.line}`} disabled={d.decision !== null} checked={selected.has(d.line)} onChange={() => toggle(d.line)} /></td>
                      <td>{d.line}</td><td class="nowrap">{time(d.tsMs)}</td><td>{OPS[d.op] ?? d.op}</td>
                      <td><a href="#" onClick={(e) => { e.preventDefault(); setOpen(d); }}>{d.table}</a></td>
                      <td>{d.stage}</td><td class="reason">{d.reason}</td>
                      <td data-testid="decision">{d.decision ? `${d.decision.action} ${time(Date.parse(d.decision.at))}` : 'pending'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        );
      })}
      {open && (
        <aside class="card detail">
          <header class="card-head"><h3>dead letter {open.line}: {open.table}</h3><button onClick={() => setOpen(undefined)}>close</button></header>
          <p class="error">{open.stage}: {open.reason}</p>
          <pre>{JSON.stringify(open.event, null, 2)}</pre>
        </aside>
      )}
    </div>
  );
}
