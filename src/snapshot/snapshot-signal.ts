/**
 * The control messages of incremental snapshots (docs/snapshots.md): signals an
 * operator or `pgcdc snapshot` writes with pg_logical_emit_message, and the
 * watermarks pgcdc writes around each chunk it reads. Neither is ever delivered
 * as an event.
 */
import { CdcError } from '../core/errors.ts';

export const SIGNAL_PREFIX = 'pgcdc.signal';
export const WATERMARK_PREFIX = 'pgcdc.watermark';

export type SnapshotSignal =
  | { type: 'execute-snapshot'; tables: string[]; where?: string; slot?: string }
  | { type: 'stop-snapshot'; tables?: string[]; slot?: string }
  | { type: 'pause-snapshot'; slot?: string }
  | { type: 'resume-snapshot'; slot?: string };

/** Parses a `pgcdc.signal` message; throws PGCDC_BAD_SIGNAL with what was expected. */
export function parseSignal(content: string): SnapshotSignal {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    throw new CdcError('PGCDC_BAD_SIGNAL', `signal is not JSON: ${content.slice(0, 120)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CdcError('PGCDC_BAD_SIGNAL', 'a signal is a JSON object: {"type":"execute-snapshot","tables":["schema.table"]}');
  const v = value as Record<string, unknown>;
  const slot = typeof v.slot === 'string' ? { slot: v.slot } : {};
  const tables = Array.isArray(v.tables) && v.tables.every((t) => typeof t === 'string' && t.length > 0) ? v.tables as string[] : undefined;
  switch (v.type) {
    case 'execute-snapshot':
      if (tables === undefined || tables.length === 0) throw new CdcError('PGCDC_BAD_SIGNAL', 'execute-snapshot needs "tables": ["schema.table", ...]');
      if (v.where !== undefined && typeof v.where !== 'string') throw new CdcError('PGCDC_BAD_SIGNAL', '"where" must be an SQL condition as a string');
      return { type: 'execute-snapshot', tables, ...(typeof v.where === 'string' && v.where.trim() ? { where: v.where } : {}), ...slot };
    case 'stop-snapshot':
      return { type: 'stop-snapshot', ...(tables ? { tables } : {}), ...slot };
    case 'pause-snapshot':
    case 'resume-snapshot':
      return { type: v.type, ...slot };
    default:
      throw new CdcError('PGCDC_BAD_SIGNAL', `unknown signal type ${JSON.stringify(v.type)}; expected execute-snapshot, stop-snapshot, pause-snapshot or resume-snapshot`);
  }
}
