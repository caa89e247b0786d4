/**
 * Splits a large table into key ranges that several snapshot readers read at
 * once (`snapshot.parallelism`), each in keyset chunks as one table is read
 * alone. The split points are quantiles of the key in a block sample of the
 * table (TABLESAMPLE SYSTEM), read in the snapshot's own transaction: quick on
 * any table size, needs no statistics (ANALYZE may not have run on a table just
 * loaded), and works for any orderable key type, as text.
 *
 * Only tables with a one-column key are split: a range of a composite key would
 * need row-value bounds on both ends, and tables read by row position (no key)
 * have no range to split by. Those are read whole, beside the others.
 */
import { quoteIdent } from '../core/sql-text.ts';
import type { SqlConnection } from '../source/sql-connection.ts';
import type { SnapshotTable } from './snapshot-tables.ts';

/** A range of one table's key: rows with `from < key <= to`; a missing end is open. */
export interface KeyRange {
  from?: Array<string | null>;
  to?: Array<string | null>;
}

/** About this many blocks are sampled to place the split points (8 MB of reads with 8 kB blocks). */
const SAMPLED_BLOCKS = 1_000;

/** Ranges for one table, in key order; one open range when the table is not worth splitting. */
export async function splitKeyRanges(sql: SqlConnection, table: SnapshotTable, parts: number, chunkSize: number): Promise<KeyRange[]> {
  // A table read in fewer chunks than parts gains nothing from ranges. The
  // planner's estimate says so when it has one (reltuples is unknown, 0 here,
  // until the table was first vacuumed or analyzed: then the sample tells).
  const enough = parts * chunkSize;
  if (parts < 2 || table.byPosition || table.key.length !== 1 || (table.estimatedRows > 0 && table.estimatedRows < enough)) return [{}];
  const key = quoteIdent(table.key[0]!.name);
  const [size] = await sql.query<{ blocks: string }>(
    `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::text AS blocks`, [table.sql]);
  const blocks = Number(size?.blocks ?? 0);
  const percent = blocks <= SAMPLED_BLOCKS ? 100 : (100 * SAMPLED_BLOCKS) / blocks;
  const fractions = Array.from({ length: parts - 1 }, (_, i) => (i + 1) / parts);
  const [row] = await sql.query<{ bounds: Array<string | null> | null; sampled: string }>(
    `SELECT (percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY ${key}))::text[] AS bounds, count(*)::text AS sampled
       FROM ${table.sql} TABLESAMPLE SYSTEM ($2) WHERE ${key} IS NOT NULL`, [fractions, percent]);
  if (table.estimatedRows === 0 && (Number(row?.sampled ?? 0) * 100) / percent < enough) return [{}];
  // Equal quantiles (a skewed sample) would make empty ranges: keep each bound once.
  const bounds = [...new Set((row?.bounds ?? []).filter((b): b is string => b !== null))];
  if (bounds.length === 0) return [{}];
  const ranges: KeyRange[] = [];
  let from: string | undefined;
  for (const bound of bounds) {
    ranges.push({ ...(from === undefined ? {} : { from: [from] }), to: [bound] });
    from = bound;
  }
  ranges.push({ from: [from!] });
  return ranges;
}
