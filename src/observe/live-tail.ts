/**
 * The console's live tail: records a sink confirmed, for whoever watches
 * (server-sent events), filtered per watcher and sampled.
 *
 * Cost is the rule here. With nobody watching, a pipeline pays one property
 * read per batch (`sample` returns at once). With watchers, a batch's records
 * are offered until every watcher's budget for the current second is spent
 * (MAX_PER_SECOND), and only the records kept are serialised, once they are
 * confirmed. What went by unshown is counted and the page says so: at 50,000
 * changes/s a person reads none of them anyway.
 */
import type { OutboundRecord } from '../sink/outbound-record.ts';

/** Events per second one watcher is sent, at most. */
export const MAX_PER_SECOND = 200;

export interface TailFilter {
  pipeline?: string | undefined;
  /** `schema.table` names. */
  tables?: string[] | undefined;
  /** c, u, d, t, r, m. */
  ops?: string[] | undefined;
  /** Logical decoding message prefixes. */
  prefixes?: string[] | undefined;
  /** A substring of the record's key. */
  key?: string | undefined;
}

export interface TailWatcher {
  readonly filter: TailFilter;
  /** One serialised entry (JSON text). */
  send(entry: string): void;
  /** Records that matched (or were not looked at) while this watcher's budget was spent. */
  unshown: number;
  /** The budget's second (Date.now() / 1000, floored) and what is left of it. */
  second: number;
  left: number;
}

/** A batch's records kept for watchers, with who wants each. */
export type TailSample = Array<{ record: OutboundRecord; watchers: TailWatcher[] }>;

export class LiveTail {
  private readonly watchers = new Set<TailWatcher>();

  get watching(): boolean {
    return this.watchers.size > 0;
  }

  watch(filter: TailFilter, send: (entry: string) => void): TailWatcher & { close(): void } {
    const watcher = { filter, send, unshown: 0, second: 0, left: MAX_PER_SECOND, close: () => this.watchers.delete(watcher) };
    this.watchers.add(watcher);
    return watcher;
  }

  /**
   * Picks, from a batch about to be written, the records some watcher wants and
   * has budget for. Undefined (the common case) when nobody watches.
   */
  sample(pipeline: string, records: readonly OutboundRecord[]): TailSample | undefined {
    if (this.watchers.size === 0) return undefined;
    const second = Math.floor(Date.now() / 1000);
    const open: TailWatcher[] = [];
    for (const w of this.watchers) {
      if (w.second !== second) { w.second = second; w.left = MAX_PER_SECOND; }
      if (w.left <= 0 || (w.filter.pipeline !== undefined && w.filter.pipeline !== pipeline)) continue;
      open.push(w);
    }
    const sample: TailSample = [];
    let i = 0;
    for (; i < records.length && open.length > 0; i++) {
      const record = records[i]!;
      let wanted: TailWatcher[] | undefined;
      for (let j = open.length - 1; j >= 0; j--) {
        const w = open[j]!;
        if (!matches(w.filter, record)) continue;
        (wanted ??= []).push(w);
        if (--w.left === 0) open.splice(j, 1);
      }
      if (wanted !== undefined) sample.push({ record, watchers: wanted });
    }
    // The rest was not looked at: counted as unshown for every watcher whose budget ran out.
    if (i < records.length) for (const w of this.watchers) if (w.left === 0 && w.second === second) w.unshown += records.length - i;
    return sample.length > 0 ? sample : undefined;
  }

  /** Sends what `sample` kept, once the sink confirmed it. */
  publish(pipeline: string, sample: TailSample): void {
    for (const { record, watchers } of sample) {
      const entry = serialise(pipeline, record);
      for (const w of watchers) if (this.watchers.has(w)) w.send(entry);
    }
  }
}

export function matches(filter: TailFilter, record: OutboundRecord): boolean {
  const event = record.event;
  if (filter.ops !== undefined && !filter.ops.includes(event.op)) return false;
  if (filter.tables !== undefined) {
    if (event.op === 'm' || !filter.tables.includes(`${event.source.schema}.${event.source.table}`)) return false;
  }
  if (filter.prefixes !== undefined && (event.op !== 'm' || !filter.prefixes.includes(event.message!.prefix))) return false;
  if (filter.key !== undefined && (record.key === null || !record.key.includes(filter.key))) return false;
  return true;
}

/** One tail entry: what happened, and where it went (topic, key, headers); the value as the sink received it. */
function serialise(pipeline: string, record: OutboundRecord): string {
  const event = record.event;
  const table = event.op === 'm' ? `message:${event.message!.prefix}` : `${event.source.schema}.${event.source.table}`;
  const head = JSON.stringify({ pipeline, id: record.id, op: event.op, table, lsn: event.source.lsn ?? null, tsMs: event.ts_ms, topic: record.topic, key: record.key, headers: record.headers });
  // The value is JSON text already (exact json columns included): spliced in, not parsed again.
  return `${head.slice(0, -1)},"value":${record.value}}`;
}
