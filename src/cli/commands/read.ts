/** `pgcdc read [FILE|-]`: print what pg_recvlogical wrote with wal2json or test_decoding. Reference: docs/read.md. */
import type { Command } from 'commander';
import { FORMAT_NAMES, type TextPlugin } from '../../decode/text-plugins/output-parser.ts';
import { createReader } from '../../read/read-events.ts';
import { readLines } from '../../read/line-source.ts';
import { list, positiveInteger } from '../options.ts';
import { notice, usageError } from '../output.ts';
import { printBatches, type OutputFormat } from '../print-stream.ts';
import { isKnownTimeZone } from '../../decode/values/time-zones.ts';

interface ReadCommandOptions {
  plugin: string;
  format?: string;
  color?: boolean;
  tables?: string[];
  ops?: string[];
  prefixes?: string[];
  follow?: boolean;
  skipBad?: boolean;
  maxEvents?: number;
  sourceName: string;
  database: string;
  toastPlaceholder: string;
  outbox: boolean;
  audit: boolean;
  quiet?: boolean;
  dateOrder?: string;
  timezone?: string;
}

export function registerRead(program: Command): void {
  program
    .command('read')
    .description('read what pg_recvlogical wrote with wal2json or test_decoding, as pgcdc events')
    .argument('[file]', "the file, or '-' for stdin", '-')
    .option('--plugin <plugin>', 'auto (detect), wal2json or test_decoding', 'auto')
    .option('--format <format>', 'pretty (default on a terminal) or json (default when piped)')
    .option('--color', 'force colours in pretty output')
    .option('--no-color', 'no colours')
    .option('--tables <list>', 'only these tables (schema.table, table or schema.*)', list)
    .option('--ops <list>', 'only these operations: insert, update, delete, truncate, message', list)
    .option('--prefixes <list>', 'only logical decoding messages with these prefixes', list)
    .option('-f, --follow', 'keep reading as the file grows, like tail -f (Ctrl-C to stop)')
    .option('--skip-bad', 'skip malformed records (counted on stderr) instead of stopping')
    .option('--date-order <order>', 'mdy or dmy: the DateStyle order of the server that wrote the file, for dates like 02/04/2013 (SQL and Postgres styles)')
    .option('--timezone <zone>', 'the TimeZone of the server that wrote the file (an IANA name such as Europe/Berlin), for times printed with an abbreviation like CET (SQL, Postgres and German styles)')
    .option('--max-events <n>', 'stop after printing n events', positiveInteger('--max-events'))
    .option('--source-name <name>', 'source.name in events', 'pgcdc')
    .option('--database <name>', 'source.db in events (files do not say)', '')
    .option('--toast-placeholder <text>', 'value printed for unchanged TOASTed columns', '__debezium_unavailable_value')
    .option('--no-outbox', 'do not route outbox messages')
    .option('--no-audit', 'do not attach audit messages to change events')
    .option('-q, --quiet', 'no notices on stderr')
    .action(async (file: string, options: ReadCommandOptions) => {
      if (!['auto', 'wal2json', 'test_decoding'].includes(options.plugin)) throw usageError(`--plugin expects auto, wal2json or test_decoding, got "${options.plugin}"`);
      const format = (options.format ?? (process.stdout.isTTY ? 'pretty' : 'json')) as OutputFormat;
      if (format !== 'pretty' && format !== 'json') throw usageError(`--format expects pretty or json, got "${options.format}"`);
      const color = options.color ?? (process.stdout.isTTY === true && process.env.NO_COLOR === undefined);
      const dateOrder = options.dateOrder?.toLowerCase();
      if (dateOrder !== undefined && dateOrder !== 'mdy' && dateOrder !== 'dmy') throw usageError(`--date-order expects mdy or dmy, got "${options.dateOrder}"`);
      if (options.timezone !== undefined && !isKnownTimeZone(options.timezone)) throw usageError(`--timezone expects an IANA time zone name such as Europe/Berlin, got "${options.timezone}"`);
      const abort = new AbortController();
      let interrupted = false;
      const onSignal = () => { interrupted = true; abort.abort(); };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const reader = createReader({
        plugin: options.plugin as TextPlugin | 'auto',
        skipBad: options.skipBad ?? false,
        sourceName: options.sourceName,
        database: options.database,
        toastPlaceholder: options.toastPlaceholder,
        filter: { tables: options.tables, ops: options.ops, prefixes: options.prefixes },
        outbox: options.outbox ? {} : false,
        audit: options.audit ? {} : false,
        inputName: file === '-' ? 'stdin' : file,
        ...(dateOrder ? { dateOrder } : {}),
        ...(options.timezone ? { timeZone: options.timezone } : {}),
      });
      try {
        let lines;
        try {
          lines = readLines(file, { follow: options.follow ?? false, signal: abort.signal });
        } catch (error) {
          throw usageError(`cannot read ${file}: ${(error as Error).message}`);
        }
        const result = await printBatches(reader.read(lines), { format, color, maxEvents: options.maxEvents }, { interrupted: () => interrupted, requestStop: () => abort.abort() });
        const stats = reader.stats;
        if (!options.quiet) {
          notice(`read ${stats.lines} lines of ${stats.format ? FORMAT_NAMES[stats.format] : 'nothing recognisable'}: ${result.printed} events${stats.skipped ? `; skipped ${stats.skipped} malformed records (first at line ${stats.firstSkippedLine}; last: ${stats.lastError})` : ''}`);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
