/** Shared by the partial-refusal tests: a pipeline that retries fast, and the check that every row's versions arrived once, in order. */
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load-config.ts';
import { createPipeline, type Pipeline } from '../../src/pipeline/pipeline.ts';

/** A pipeline from `publication` on `url` to `sink`, no heartbeats, no snapshot, retries after 20-100 ms. */
export function fastRetryPipeline(url: string, slot: string, publication: string, sink: Record<string, unknown>): Pipeline {
  return createPipeline(parseConfig({
    source: { url, slot, publication, statusInterval: '100ms' },
    sink,
    heartbeat: false,
    snapshot: { mode: 'never' },
    retry: { initialDelay: '20ms', maxDelay: '100ms' },
  }).pipelines[0]!);
}

/** Every row's `n` went 0, 1, … `rounds` in the delivered order, each version once. */
export function assertEveryVersionOnceInOrder(afters: Array<{ id: number; n: number }>, rounds: number): void {
  const versions = new Map<number, number[]>();
  for (const after of afters) versions.set(after.id, [...(versions.get(after.id) ?? []), after.n]);
  for (const [id, seen] of versions) assert.deepEqual(seen, Array.from({ length: rounds + 1 }, (_, i) => i), `row ${id}: every version once, in order`);
}

/**
 * The partial-refusal tests' load: `rows` rows of `table` (id, n) at n = 0, then
 * `rounds` updates of every row in one transaction, so every row repeats many
 * times inside each sink write. Returns the number of versions written.
 */
export async function writeHotRows(query: (sql: string) => Promise<unknown>, table: string, rows: number, rounds: number): Promise<number> {
  await query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${rows}) g`);
  await query(`BEGIN; ${Array.from({ length: rounds }, (_, i) => `UPDATE ${table} SET n = ${i + 1};`).join(' ')} COMMIT`);
  return rows * (rounds + 1);
}
