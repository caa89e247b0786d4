/** Helpers the benchmarks share. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A node flag that makes the process report its memory at exit (bench/consumers/memory-at-exit.mjs). */
export const MEMORY_REPORT_FLAG = `--import=${fileURLToPath(new URL('consumers/memory-at-exit.mjs', import.meta.url))}`;

/**
 * A process's memory at exit as MEMORY_REPORT_FLAG reports it, in MB: `fileMb`
 * its pages mapped from files (mostly the node executable's), `ownMb` its peak
 * RSS less those (about the peak of what it allocated itself). Undefined when
 * the process did not report (not a node process).
 */
export function memoryReport(stderr: string): { fileMb: number; ownMb: number } | undefined {
  const line = /^MEMORY hwm=(\d+) file=(\d+) anon=\d+$/m.exec(stderr);
  if (!line) return undefined;
  return { fileMb: Number(line[2]) / 1024, ownMb: (Number(line[1]) - Number(line[2])) / 1024 };
}

/** The node flags in bin/pgcdc.js's shebang, so a benchmark starts pgcdc as users do. `root` ends with `/` or not. */
export function binNodeFlags(root: string): string[] {
  const shebang = readFileSync(`${root.replace(/\/$/, '')}/bin/pgcdc.js`, 'utf8').split('\n')[0]!;
  return shebang.replace(/^#!\/usr\/bin\/env -S node\s*/, '').replace(/^#!.*node\s*/, '').split(' ').filter(Boolean);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A process's CPU time (user + system) in seconds, from /proc (clock ticks,
 * USER_HZ = 100). `reapedChildren`: its exited and reaped children's instead
 * (cutime + cstime), e.g. a postmaster's walsenders once they have ended.
 */
export function cpuSeconds(pid: number | string, reapedChildren = false): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  const at = reapedChildren ? 13 : 11;
  return (Number(fields[at]) + Number(fields[at + 1])) / 100;
}

/**
 * A process's context switches so far, from /proc: `voluntary` (it waited: each
 * time its event loop found nothing to do and blocked) and `involuntary` (the
 * kernel took the CPU from it, to run another process).
 */
export function contextSwitches(pid: number | string): { voluntary: number; involuntary: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
}

/**
 * Drops a slot once its walsender let go of it: a consumer that exited may
 * leave its walsender a moment longer, and dropping an active slot fails
 * (55006) rather than waits.
 */
export async function dropSlotWhenFree(db: { query(sql: string, values: unknown[]): Promise<unknown> }, slot: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
