/**
 * Snapshot progress for people: on a terminal, one line per table redrawn in
 * place (rows, rate, ETA from the planner's row estimate); otherwise a log line
 * at most every `intervalMs` and when a table or the snapshot finishes.
 */
import type { SnapshotProgress } from '../snapshot/initial-snapshot.ts';

export interface ProgressSink {
  line(text: string): void;
  log(text: string, fields: Record<string, unknown>): void;
}

export function snapshotProgressReporter(terminal: boolean, out: ProgressSink, intervalMs = 5000): (progress: SnapshotProgress & { name: string }) => void {
  const started = new Map<string, { at: number; rows: number }>();
  let lastLog = 0;
  let lastTable = '';
  return (p) => {
    const now = Date.now();
    const begin = started.get(p.table) ?? { at: now, rows: p.rows };
    if (!started.has(p.table)) started.set(p.table, begin);
    const seconds = Math.max((now - begin.at) / 1000, 0.001);
    const rate = (p.rows - begin.rows) / seconds;
    const left = Math.max(p.estimatedRows - p.rows, 0);
    const eta = rate > 0 && left > 0 ? `${Math.ceil(left / rate)} s` : '-';
    const of = p.estimatedRows > 0 ? `/${p.estimatedRows.toLocaleString('en-US')}` : '';
    const text = `${p.name}: snapshot ${p.table} ${p.rows.toLocaleString('en-US')}${of} rows, ${Math.round(rate).toLocaleString('en-US')} rows/s, ETA ${eta} (${p.tablesDone}/${p.tables} tables)`;
    const tableChanged = lastTable !== '' && lastTable !== p.table;
    lastTable = p.table;
    if (terminal) {
      out.line(`${tableChanged ? '\n' : '\r'}${text}${p.done ? '\n' : ''}`);
      return;
    }
    if (p.done || tableChanged || now - lastLog >= intervalMs) {
      lastLog = now;
      out.log(text, { pipeline: p.name, table: p.table, rows: p.rows, estimatedRows: p.estimatedRows, rowsPerSecond: Math.round(rate), tablesDone: p.tablesDone, tables: p.tables, done: p.done });
    }
  };
}
