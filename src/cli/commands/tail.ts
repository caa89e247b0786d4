/** `pgcdc tail [URL]`: stream changes to stdout. Reference: docs/cli.md. */
import type { Command } from 'commander';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import { ChangeStream } from '../../engine/change-stream.ts';
import { lsnOption, list, positiveInteger, positiveSeconds } from '../options.ts';
import { notice, usageError } from '../output.ts';
import { printStream, type OutputFormat } from '../print-stream.ts';

interface TailOptions {
  slot: string;
  publication: string;
  tables?: string[];
  ops?: string[];
  prefixes?: string[];
  format?: string;
  color?: boolean;
  temporary?: boolean;
  createSlot: boolean;
  maxEvents?: number;
  untilIdle?: number;
  untilLsn?: Lsn;
  sourceName: string;
  toastPlaceholder?: string;
  statusInterval: number;
  quiet?: boolean;
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('stream changes and logical decoding messages to stdout')
    .argument('[url]', 'connection URL (default: DATABASE_URL, then PG* variables)')
    .option('--slot <name>', 'replication slot (created if missing)', 'pgcdc')
    .option('--publication <name>', 'publication (created if missing)', 'pgcdc')
    .option('--tables <list>', 'only these tables (schema.table, table or schema.*); also the tables of a publication pgcdc creates', list)
    .option('--ops <list>', 'only these operations: insert, update, delete, truncate, message', list)
    .option('--prefixes <list>', 'only logical decoding messages with these prefixes', list)
    .option('--format <format>', 'pretty (default on a terminal) or json (default when piped)')
    .option('--color', 'force colours in pretty output')
    .option('--no-color', 'no colours')
    .option('--temporary', 'use a temporary slot, dropped on exit')
    .option('--no-create-slot', 'fail if the slot does not exist instead of creating it')
    .option('--max-events <n>', 'stop after printing n events', positiveInteger('--max-events'))
    .option('--until-idle <seconds>', 'stop after this many seconds without a change', positiveSeconds('--until-idle'))
    .option('--until-lsn <lsn>', 'stop once everything up to this LSN is printed (like pg_recvlogical -E)', lsnOption('--until-lsn'))
    .option('--source-name <name>', 'logical source name in events (Debezium topic.prefix)', 'pgcdc')
    .option('--toast-placeholder <text>', 'value printed for unchanged TOASTed columns', '__debezium_unavailable_value')
    .option('--status-interval <seconds>', 'seconds between acknowledgements to the server', positiveSeconds('--status-interval'), 10)
    .option('-q, --quiet', 'no notices on stderr')
    .action(async (url: string | undefined, options: TailOptions) => {
      const format = (options.format ?? (process.stdout.isTTY ? 'pretty' : 'json')) as OutputFormat;
      if (format !== 'pretty' && format !== 'json') throw usageError(`--format expects pretty or json, got "${options.format}"`);
      const color = options.color ?? (process.stdout.isTTY === true && process.env.NO_COLOR === undefined);
      const say = options.quiet ? () => undefined : notice;
      const exactTables = (options.tables ?? []).every((t) => !t.includes('*'));
      const stream = await ChangeStream.open({
        connection: url,
        slot: options.slot,
        publication: options.publication,
        publicationTables: exactTables ? options.tables ?? [] : [],
        createSlot: options.createSlot,
        temporary: options.temporary ?? false,
        sourceName: options.sourceName,
        toastPlaceholder: options.toastPlaceholder,
        statusIntervalMs: options.statusInterval * 1000,
        untilLsn: options.untilLsn,
        filter: { tables: options.tables, ops: options.ops, prefixes: options.prefixes },
        onNotice: say,
      });
      let interrupted = false;
      const onSignal = () => {
        interrupted = true;
        stream.requestStop();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      if (stream.slotCreated && !options.temporary) say(`slot ${stream.slot} keeps WAL for you until dropped: pgcdc slot drop --slot ${stream.slot}`);
      say(`streaming slot ${stream.slot} from ${formatLsn(stream.startLsn)} (PostgreSQL ${stream.server.major}, pgoutput protocol ${stream.server.protocolVersion})`);
      try {
        const result = await printStream(stream, { format, color, maxEvents: options.maxEvents, untilIdleSeconds: options.untilIdle }, () => interrupted);
        await stream.stop();
        say(`stopped (${result.reason}) after ${result.printed} events; slot ${stream.slot} confirmed at ${formatLsn(stream.tracker.safeLsn)}`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await stream.stop();
      }
    });
}
