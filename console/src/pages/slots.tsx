/** Slots: every replication slot on each server the pipelines read, active or not. */
import { usePoll } from '../api.ts';
import { bytes } from '../format.ts';
import type { Slots } from '../types.ts';

const yesNo = (v: boolean | null) => (v === null ? '–' : v ? 'yes' : 'no');

export function SlotsPage() {
  const { data, error } = usePoll<Slots>('/api/slots', 5000);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">loading…</p>;
  return (
    <div class="stack">
      {data.servers.map((s) => (
        <section class="card" key={s.server}>
          <header class="card-head"><h2>{s.server}</h2></header>
          {s.error && <p class="error">{s.error}</p>}
          {s.warnings.map((w) => <p class="notice" key={w}>{w}</p>)}
          <table class="grid" data-testid="slots">
            <thead><tr><th>slot</th><th>pipeline</th><th>plugin</th><th>active</th><th>confirmed</th><th>restart</th><th>retained WAL</th><th>wal_status</th><th>failover</th><th>synced</th></tr></thead>
            <tbody>
              {s.slots.map((slot) => (
                <tr key={slot.name} data-slot={slot.name}>
                  <td><b>{slot.name}</b>{slot.temporary ? ' (temporary)' : ''}</td>
                  <td>{slot.pipeline ?? '–'}</td>
                  <td>{slot.plugin ?? slot.slotType}</td>
                  <td>{slot.active ? `yes (pid ${slot.activePid})` : 'no'}</td>
                  <td class="mono">{slot.confirmedFlushLsn ?? '–'}</td>
                  <td class="mono">{slot.restartLsn ?? '–'}</td>
                  <td>{bytes(slot.retainedWalBytes)}</td>
                  <td class={slot.walStatus === 'lost' || slot.walStatus === 'unreserved' ? 'bad' : ''}>{slot.walStatus ?? '–'}</td>
                  <td>{yesNo(slot.failover)}</td>
                  <td>{yesNo(slot.synced)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
