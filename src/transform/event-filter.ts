/**
 * Filters by table, operation and message prefix. Pure: decides per event.
 * Table patterns: `schema.table`, `table` (any schema), `schema.*`.
 */
import type { ChangeEvent, Operation } from '../events/change-event.ts';
import { CdcError } from '../core/errors.ts';

export interface FilterOptions {
  tables?: string[];
  ops?: string[];
  prefixes?: string[];
}

export type EventPredicate = (event: ChangeEvent) => boolean;

const OPERATION_NAMES: Record<string, Operation> = {
  c: 'c', insert: 'c', create: 'c', u: 'u', update: 'u', d: 'd', delete: 'd', t: 't', truncate: 't', m: 'm', message: 'm', r: 'r', read: 'r',
};

export function parseOperations(names: string[]): Set<Operation> {
  const ops = new Set<Operation>();
  for (const name of names) {
    const op = OPERATION_NAMES[name.trim().toLowerCase()];
    if (op === undefined) throw new CdcError('PGCDC_BAD_ARGUMENT', `unknown operation "${name}": use insert, update, delete, truncate, message (or c, u, d, t, m)`);
    ops.add(op);
  }
  return ops;
}

function tableMatcher(patterns: string[]): (schema: string, table: string) => boolean {
  const exact = new Set<string>();
  const anySchema = new Set<string>();
  const wholeSchema = new Set<string>();
  for (const pattern of patterns) {
    const [first, second] = pattern.split('.', 2) as [string, string | undefined];
    if (second === undefined) anySchema.add(first);
    else if (second === '*') wholeSchema.add(first);
    else exact.add(`${first}.${second}`);
  }
  return (schema, table) => exact.has(`${schema}.${table}`) || anySchema.has(table) || wholeSchema.has(schema);
}

/** A predicate for the given filters, or undefined when nothing is filtered. */
export function buildEventFilter(options: FilterOptions): EventPredicate | undefined {
  const tables = options.tables?.length ? tableMatcher(options.tables) : undefined;
  const ops = options.ops?.length ? parseOperations(options.ops) : undefined;
  const prefixes = options.prefixes?.length ? new Set(options.prefixes) : undefined;
  if (!tables && !ops && !prefixes) return undefined;
  // As Debezium's include lists: table filters apply to table events only,
  // prefix filters to messages only, operation filters to both.
  return (event) => {
    if (ops && !ops.has(event.op)) return false;
    if (event.op === 'm') return !prefixes || prefixes.has(event.message!.prefix);
    return !tables || tables(event.source.schema, event.source.table);
  };
}
