/**
 * `pgcdc snapshot [URL] --table T [--where SQL] [--slot S]`, and `--stop`,
 * `--pause`, `--resume`: sends an incremental snapshot signal. The command only
 * writes the signal (a non-transactional `pgcdc.signal` message); the running
 * pgcdc pipelines read it from their slots and do the work (docs/snapshots.md).
 */
import type { Command } from 'commander';
import { CdcError } from '../../core/errors.ts';
import { formatLsn, parseLsn } from '../../core/lsn.ts';
import { parseSignal, SIGNAL_PREFIX, type SnapshotSignal } from '../../snapshot/snapshot-signal.ts';
import { announceConnection } from '../connection.ts';
import { SqlConnection } from '../../source/sql-connection.ts';
import { usageError } from '../output.ts';

interface SnapshotCommandOptions {
  table: string[];
  where?: string;
  slot?: string;
  stop?: boolean;
  pause?: boolean;
  resume?: boolean;
}

/** The signal a command line asks for (exported for tests of the argument rules). */
export function signalFor(options: SnapshotCommandOptions): SnapshotSignal {
  const actions = [options.stop, options.pause, options.resume].filter(Boolean).length;
  if (actions > 1) throw usageError('choose one of --stop, --pause, --resume');
  const slot = options.slot ? { slot: options.slot } : {};
  if (options.pause) return { type: 'pause-snapshot', ...slot };
  if (options.resume) return { type: 'resume-snapshot', ...slot };
  if (options.stop) return { type: 'stop-snapshot', ...(options.table.length ? { tables: options.table } : {}), ...slot };
  if (options.table.length === 0) throw usageError('name the tables to snapshot: --table schema.table (repeatable)');
  return { type: 'execute-snapshot', tables: options.table, ...(options.where ? { where: options.where } : {}), ...slot };
}

export function registerSnapshot(program: Command): void {
  program
    .command('snapshot')
    .description('start (or stop, pause, resume) an incremental snapshot in the running pgcdc pipelines, by a signal message')
    .argument('[url]', 'connection URL (default: DATABASE_URL, then PG* variables)')
    .option('--table <schema.table>', 'table to snapshot (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('--where <sql>', 'only rows matching this SQL condition')
    .option('--slot <slot>', 'only the pipeline reading this slot (default: every pipeline whose publication has the table)')
    .option('--stop', 'stop the incremental snapshot (of --table tables, or all)')
    .option('--pause', 'pause after the current chunk')
    .option('--resume', 'resume a paused snapshot')
    .action(async (url: string | undefined, options: SnapshotCommandOptions) => {
      const signal = signalFor(options);
      const content = JSON.stringify(signal);
      parseSignal(content); // the same rules the pipelines apply
      const sql = await SqlConnection.open(announceConnection(url));
      try {
        const [row] = await sql.query<{ lsn: string }>('SELECT pg_logical_emit_message(false, $1, $2)::text AS lsn', [SIGNAL_PREFIX, content]);
        process.stdout.write(`${signal.type} signal written at ${formatLsn(parseLsn(row!.lsn))}: ${content}\n`);
      } catch (error) {
        throw error instanceof CdcError ? error : new CdcError('PGCDC_POSTGRES', (error as Error).message, { cause: error });
      } finally {
        await sql.close();
      }
    });
}
