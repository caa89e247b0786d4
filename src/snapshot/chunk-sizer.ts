/**
 * How many rows a snapshot chunk reads: `snapshot.chunkSize` at most, fewer
 * when a table's rows are wide or many readers hold chunks at once, so that the
 * row text in flight stays within a budget.
 *
 * Why a budget of text, and this one: a snapshot's memory is decided by whether
 * its rows die young. Rows that are read, converted and written within a
 * collection or two of V8's young generation (8 MB here, bin/pgcdc.js) cost
 * nothing more; rows held longer are copied twice, promoted, and kept until a
 * full collection, and the heap grows to two or three times what is promoted
 * between full collections. A row's text is about a seventh of what converting
 * and writing it allocates, so about 1 MB of text in flight at once (readers
 * + 2 chunks: one per reader, one waiting, one being written, see
 * initial-snapshot.ts) keeps rows young. Measured on W1-shaped rows (about
 * 400 bytes of text): 116-121 MB peak RSS with 1,500-3,000 rows in flight,
 * 200-240 MB with 4,000 or more (docs/benchmarks.md).
 */

/** Row text (UTF-16 code units, about bytes for most text) in flight across all chunks. */
export const ROW_TEXT_BUDGET = 768 * 1024;

/** The first chunk of a table, before its rows' width is known, reads at most this many. */
export const FIRST_CHUNK_ROWS = 100;

/** A table's width is known well enough after this many rows. */
const WIDTH_SAMPLE_ROWS = 20_000;

/** Never fewer rows than this per chunk: a query per handful of rows costs more than their memory saves. */
const MIN_CHUNK_ROWS = 16;

export class ChunkSizer {
  private readonly maxRows: number;
  /** Text per chunk: the budget shared among the chunks in flight. */
  private readonly chunkBudget: number;
  /** Text per row seen so far, by table. */
  private readonly widths = new Map<string, { rows: number; units: number }>();

  /** `chunksInFlight`: readers + 2 (initial-snapshot.ts says why). */
  constructor(maxRows: number, chunksInFlight: number, budget = ROW_TEXT_BUDGET) {
    this.maxRows = maxRows;
    this.chunkBudget = budget / chunksInFlight;
  }

  /** Rows for the table's next chunk. */
  rowsFor(table: string): number {
    const width = this.widths.get(table);
    if (width === undefined) return Math.min(this.maxRows, FIRST_CHUNK_ROWS);
    const perRow = Math.max(1, width.units / width.rows);
    return Math.max(MIN_CHUNK_ROWS, Math.min(this.maxRows, Math.floor(this.chunkBudget / perRow)));
  }

  /** A chunk of the table was read: its rows' text counts toward the table's width. */
  observe(table: string, rows: ReadonlyArray<ReadonlyArray<string | null>>): void {
    if ((this.widths.get(table)?.rows ?? 0) >= WIDTH_SAMPLE_ROWS) return;
    let units = 0;
    for (const row of rows) for (const value of row) if (value !== null) units += value.length;
    const width = this.widths.get(table);
    if (width === undefined) this.widths.set(table, { rows: rows.length, units });
    else {
      width.rows += rows.length;
      width.units += units;
    }
  }
}
