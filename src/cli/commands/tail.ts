/** `pgcdc tail [URL]`: stream changes to stdout. Reference: docs/cli.md. */
import type { Command } from 'commander';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import { ChangeStream } from '../../engine/change-stream.ts';
import { lsnOption, list, positiveInteger, positiveSeconds, sizeOption } from '../options.ts';
import { notice, usageError } from '../output.ts';
import { loadTransforms } from '../../transform/load-transforms.ts';
import { openAppendWriter } from '../../sink/stdout-writer.ts';
import { printStream, type OutputFormat } from '../print-stream.ts';
import { announceConnection } from '../connection.ts';
import { parseOperations } from '../../transform/event-filter.ts';

interface TailOptions {
  plugin: string;
  slot: string;
  publication: string;
  tables?: string[];
  ops?: string[];
  prefixes?: string[];
  format?: string;
  envelope: string;
  color?: boolean;
  temporary?: boolean;
  createSlot: boolean;
  maxEvents?: number;
  untilIdle?: number;
  untilLsn?: Lsn;
  sourceName: string;
  toastPlaceholder?: string;
  memoryBudget?: number;
  spillDir?: string;
  statusInterval: number;
  quiet?: boolean;
  outbox: boolean;
  outboxPrefix: string;
  outboxTopic: string;
  outboxTables?: string[];
  audit: boolean;
  auditPrefix: string;
  auditField: string;
  auditMessages?: boolean;
  requireAudit?: string[];
  heartbeat: boolean;
  heartbeatInterval: number;
  heartbeatPrefix: string;
  deadLetterFile?: string;
  onRejected: string;
  showHeartbeats?: boolean;
  metricsPort?: number;
  metricsHost: string;
  transform?: string[];
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('stream changes and logical decoding messages to stdout')
    .argument('[url]', 'connection URL (default: DATABASE_URL, then PG* variables)')
    .option('--slot <name>', 'replication slot (created if missing)', 'pgcdc')
    .option('--plugin <plugin>', "the slot's output plugin: pgoutput, wal2json or test_decoding", 'pgoutput')
    .option('--publication <name>', 'publication (created if missing)', 'pgcdc')
    .option('--tables <list>', 'only these tables (schema.table, table or schema.*); also the tables of a publication pgcdc creates', list)
    .option('--ops <list>', 'only these operations: insert, update, delete, truncate, message', list)
    .option('--prefixes <list>', 'only logical decoding messages with these prefixes', list)
    .option('--format <format>', 'pretty (default on a terminal) or json (default when piped)')
    .option('--envelope <form>', 'json lines as debezium (default) or debezium-connect (Kafka Connect schema and payload)', 'debezium')
    .option('--color', 'force colours in pretty output')
    .option('--no-color', 'no colours')
    .option('--temporary', 'use a temporary slot, dropped on exit')
    .option('--no-create-slot', 'fail if the slot does not exist instead of creating it')
    .option('--max-events <n>', 'stop after printing n events', positiveInteger('--max-events'))
    .option('--until-idle <seconds>', 'stop after this many seconds without a change', positiveSeconds('--until-idle'))
    .option('--until-lsn <lsn>', 'stop once everything up to this LSN is printed (like pg_recvlogical -E)', lsnOption('--until-lsn'))
    .option('--source-name <name>', 'logical source name in events (Debezium topic.prefix)', 'pgcdc')
    .option('--toast-placeholder <text>', 'value printed for unchanged TOASTed columns', '__debezium_unavailable_value')
    .option('--memory-budget <size>', 'memory open transactions may hold before one is spilled to disk: 16MiB (default), 512KiB, or bytes', sizeOption('--memory-budget'))
    .option('--spill-dir <dir>', 'where spilled transactions are written (default: the system temporary directory)')
    .option('--status-interval <seconds>', 'seconds between acknowledgements to the server', positiveSeconds('--status-interval'), 10)
    .option('--no-outbox', 'do not route outbox messages and tables')
    .option('--outbox-prefix <prefix>', 'prefix of outbox messages', 'outbox')
    .option('--outbox-topic <template>', 'topic of outbox records, with {aggregate_type}', '{aggregate_type}')
    .option('--outbox-tables <list>', 'classic outbox tables (Debezium Outbox Event Router columns) to route like messages', list)
    .option('--no-audit', 'do not attach audit messages to change events')
    .option('--audit-prefix <prefix>', 'prefix of audit messages', 'audit')
    .option('--audit-field <name>', 'event field for audit metadata', 'auditData')
    .option('--audit-messages', 'also print the audit messages themselves')
    .option('--require-audit <list>', 'tables whose changes must carry audit context (others without it are dead-lettered)', list)
    .option('--no-heartbeat', 'do not write heartbeat messages')
    .option('--heartbeat-interval <seconds>', 'seconds between heartbeat messages', positiveSeconds('--heartbeat-interval'), 10)
    .option('--heartbeat-prefix <prefix>', 'prefix of heartbeat messages', 'heartbeat')
    .option('--show-heartbeats', 'print heartbeat messages too')
    .option('--on-rejected <policy>', 'dead-letter (go on) or stop (exit 7, nothing acknowledged past the rejected event)', 'dead-letter')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port (/metrics)', positiveInteger('--metrics-port'))
    .option('--metrics-host <host>', 'address for the metrics endpoint', '127.0.0.1')
    .option('--dead-letter-file <file>', 'append rejected events as JSON lines {reason, stage, event} (default: a warning on stderr)')
    .option('--transform <file>', 'a module whose default export is a transform (event, context) => event | event[] | null; repeatable', (v: string, p: string[] = []) => [...p, v])
    .option('-q, --quiet', 'no notices on stderr')
    .action((url: string | undefined, options: TailOptions) => runTail(url, options));
}

/** Streams to stdout until a limit, Ctrl-C or an error; acknowledges what was printed. */
async function runTail(url: string | undefined, options: TailOptions): Promise<void> {
  if (!['pgoutput', 'wal2json', 'test_decoding'].includes(options.plugin)) throw usageError(`--plugin expects pgoutput, wal2json or test_decoding, got "${options.plugin}"`);
  if (options.envelope !== 'debezium' && options.envelope !== 'debezium-connect') throw usageError(`--envelope expects debezium or debezium-connect, got "${options.envelope}"`);
  // An envelope other than Debezium's plain one is a JSON form: it implies --format json.
  const format = (options.format ?? (process.stdout.isTTY && options.envelope === 'debezium' ? 'pretty' : 'json')) as OutputFormat;
  if (format !== 'pretty' && format !== 'json') throw usageError(`--format expects pretty or json, got "${options.format}"`);
  if (format === 'pretty' && options.envelope !== 'debezium') throw usageError(`--envelope ${options.envelope} is a JSON form: use it with --format json`);
  if (options.onRejected !== 'dead-letter' && options.onRejected !== 'stop') throw usageError(`--on-rejected expects dead-letter or stop, got "${options.onRejected}"`);
  const color = options.color ?? (process.stdout.isTTY === true && process.env.NO_COLOR === undefined);
  const say = options.quiet ? () => undefined : notice;
  const exactTables = (options.tables ?? []).every((t) => !t.includes('*'));
  // Every argument is checked before the slot or publication is created: a typo
  // must not leave a slot behind that holds WAL until someone drops it.
  parseOperations(options.ops ?? []);
  const transforms = await loadTransforms(options.transform ?? []);
  announceConnection(url, say);
  const stream = await ChangeStream.open({
    connection: url,
    plugin: options.plugin as 'pgoutput' | 'wal2json' | 'test_decoding',
    slot: options.slot,
    publication: options.publication,
    publicationTables: exactTables ? options.tables ?? [] : [],
    createSlot: options.createSlot,
    temporary: options.temporary ?? false,
    sourceName: options.sourceName,
    toastPlaceholder: options.toastPlaceholder,
    ...(options.memoryBudget !== undefined ? { memoryBudgetBytes: options.memoryBudget } : {}),
    ...(options.spillDir !== undefined ? { spillDir: options.spillDir } : {}),
    statusIntervalMs: options.statusInterval * 1000,
    untilLsn: options.untilLsn,
    filter: { tables: options.tables, ops: options.ops, prefixes: options.prefixes },
    outbox: options.outbox ? { prefix: options.outboxPrefix, topicTemplate: options.outboxTopic, tables: options.outboxTables ?? [] } : false,
    audit: options.audit ? { prefix: options.auditPrefix, field: options.auditField, deliverMessages: options.auditMessages ?? false, requireFor: options.requireAudit ?? [] } : false,
    heartbeat: options.heartbeat ? { intervalMs: options.heartbeatInterval * 1000, prefix: options.heartbeatPrefix, deliver: options.showHeartbeats ?? false } : false,
    onRejected: options.onRejected as 'dead-letter' | 'stop',
    transforms,
    onNotice: say,
  });
  const deadLetters = options.deadLetterFile ? openAppendWriter(options.deadLetterFile) : undefined;
  // prom-client is loaded only when asked for: it is a tenth of a second of start-up.
  const metrics = options.metricsPort === undefined ? undefined : new (await import('../../observe/metrics.ts')).StreamMetrics(stream.slot, () => stream.stats);
  const metricsServer = metrics ? await (await import('../../observe/metrics-server.ts')).serveMetrics(metrics.registry, options.metricsHost, options.metricsPort!) : undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    stream.requestStop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (stream.slotCreated && !options.temporary) say(`slot ${stream.slot} keeps WAL for you until dropped: pgcdc slot drop --slot ${stream.slot}`);
  say(`streaming slot ${stream.slot} from ${formatLsn(stream.startLsn)} (PostgreSQL ${stream.server.major}, ${options.plugin === 'pgoutput' ? `pgoutput protocol ${stream.server.protocolVersion}` : options.plugin})`);
  try {
    const result = await printStream(stream, { format, envelope: options.envelope, sourceName: options.sourceName, color, maxEvents: options.maxEvents, untilIdleSeconds: options.untilIdle, deadLetters, metrics }, () => interrupted);
    await stream.stop();
    say(`stopped (${result.reason}) after ${result.printed} events; slot ${stream.slot} confirmed at ${formatLsn(stream.tracker.safeLsn)}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    metricsServer?.closeAllConnections();
    metricsServer?.close();
    await stream.stop();
  }
}
