/**
 * The console's JSON API (docs/console.md). Every number comes from where
 * /metrics and /readyz take theirs: the pipelines' own state and registries.
 * Every text passes the redaction (no secret is ever shown).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CdcError, isCdcError } from '../core/errors.ts';
import { formatLsn, parseLsn } from '../core/lsn.ts';
import { parseSignal, SIGNAL_PREFIX, type SnapshotSignal } from '../snapshot/snapshot-signal.ts';
import { resolveConnection } from '../source/connection-config.ts';
import { SqlConnection } from '../source/sql-connection.ts';
import { failoverWarnings, listSlots } from '../source/slots.ts';
import { DEFAULT_RETAINED_WAL_WARN_BYTES } from '../engine/slot-health.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import type { DeadLetterEntry } from '../pipeline/dead-letter-file.ts';
import { MAX_PER_SECOND, type LiveTail, type TailFilter } from '../observe/live-tail.ts';
import type { PipelineHistory } from './pipeline-history.ts';
import type { Redaction } from './redaction.ts';
import { SAMPLE_MS } from './pipeline-history.ts';

/** How long a retry POST waits for the sink's confirmation before it answers "pending". */
const RETRY_WAIT_MS = 30_000;
/** Dead letters listed per pipeline (newest); actions on "all" take every pending one. */
const LIST_LIMIT = 500;

/** A request the console cannot do as asked, with its HTTP status. */
export class ApiError extends CdcError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('PGCDC_CONSOLE_REQUEST', message);
    this.status = status;
  }
}

export interface ConsoleContext {
  pipelines: readonly Pipeline[];
  history: PipelineHistory;
  tail: LiveTail;
  redaction: Redaction;
  csrfToken: string;
  /** The last error (retry or failure) per pipeline. */
  lastErrors: Map<string, { message: string; code: string | undefined; at: string }>;
}

export type PipelineState = 'starting' | 'streaming' | 'snapshotting' | 'degraded' | 'standby' | 'stopped' | 'failed';

export function pipelineState(pipeline: Pipeline): PipelineState {
  if (pipeline.health !== 'running') return pipeline.health;
  const stats = pipeline.stats;
  const initial = stats?.snapshot;
  const incremental = stats?.incrementalSnapshot;
  if ((initial !== undefined && !initial.done) || (incremental !== undefined && incremental.tablesQueued > 0)) return 'snapshotting';
  return 'streaming';
}

export function overview(ctx: ConsoleContext): unknown {
  return {
    csrf: ctx.csrfToken,
    sampleSeconds: SAMPLE_MS / 1000,
    tailLimitPerSecond: MAX_PER_SECOND,
    pipelines: ctx.pipelines.map((p) => {
      const latest = ctx.history.latest(p.name);
      const stats = p.stats;
      return {
        name: p.name,
        slot: p.config.source.slot,
        state: pipelineState(p),
        health: p.health,
        sink: ctx.redaction.text(p.sinkName),
        events: p.events,
        deadLetters: p.deadLetters,
        retries: p.retries,
        acknowledgedLsn: p.acknowledgedLsn === undefined ? null : formatLsn(p.acknowledgedLsn),
        eventsPerSecond: latest?.eventsPerSecond ?? 0,
        lagBytes: latest?.lagBytes ?? 0,
        lagSeconds: latest?.lagSeconds ?? 0,
        retainedWalBytes: stats?.retainedWalBytes ?? null,
        walStatus: stats?.walStatus ?? null,
        retainedWalWarnBytes: DEFAULT_RETAINED_WAL_WARN_BYTES,
        lastError: ctx.lastErrors.get(p.name) ?? null,
        history: ctx.history.series(p.name),
      };
    }),
  };
}

/** `?pipeline=&table=a,b&op=c,u&prefix=&key=`: empty parameters mean "any". */
export function tailFilter(url: URL): TailFilter {
  const list = (name: string) => {
    const values = url.searchParams.getAll(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
    return values.length > 0 ? values : undefined;
  };
  const single = (name: string) => url.searchParams.get(name)?.trim() || undefined;
  return { pipeline: single('pipeline'), tables: list('table'), ops: list('op'), prefixes: list('prefix'), key: single('key') };
}

/** The live tail as server-sent events: a `tail` event every 250 ms with what arrived, and what went by unshown. */
export function serveTail(ctx: ConsoleContext, request: IncomingMessage, response: ServerResponse, filter: TailFilter): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  response.write(`retry: 2000\n: pgcdc live tail, at most ${MAX_PER_SECOND} events/s\n\n`);
  let pending: string[] = [];
  const watcher = ctx.tail.watch(filter, (entry) => { if (pending.length < MAX_PER_SECOND) pending.push(entry); });
  let idle = 0;
  const timer = setInterval(() => {
    if (pending.length === 0 && watcher.unshown === 0) {
      if (++idle % 60 === 0) response.write(': keep-alive\n\n'); // proxies close silent connections
      return;
    }
    response.write(`event: tail\ndata: {"entries":[${ctx.redaction.text(pending.join(','))}],"unshown":${watcher.unshown}}\n\n`);
    pending = [];
    watcher.unshown = 0;
  }, 250);
  timer.unref();
  request.once('close', () => { clearInterval(timer); watcher.close(); });
}

function findPipeline(ctx: ConsoleContext, name: unknown): Pipeline {
  const pipeline = ctx.pipelines.find((p) => p.name === name);
  if (pipeline === undefined) throw new ApiError(404, `no pipeline named ${JSON.stringify(name)}; pipelines: ${ctx.pipelines.map((p) => p.name).join(', ')}`);
  return pipeline;
}

export async function deadLetters(ctx: ConsoleContext): Promise<unknown> {
  return {
    pipelines: await Promise.all(ctx.pipelines.map(async (p) => {
      const file = p.deadLetterFile;
      const entries = file === undefined ? [] : await file.list();
      return {
        name: p.name,
        path: file?.path ?? null,
        total: entries.length,
        pending: entries.filter((e) => e.decision === undefined).length,
        entries: entries.slice(-LIST_LIMIT).reverse().map((e) => ({
          line: e.line,
          reason: ctx.redaction.text(e.reason),
          stage: ctx.redaction.text(e.stage),
          id: e.event.id,
          op: e.event.op,
          table: e.event.op === 'm' ? `message:${e.event.message?.prefix ?? ''}` : `${e.event.source?.schema}.${e.event.source?.table}`,
          tsMs: e.event.ts_ms,
          decision: e.decision ?? null,
          event: JSON.parse(ctx.redaction.text(JSON.stringify(e.event))) as unknown,
        })),
      };
    })),
  };
}

interface DeadLetterAction { pipeline?: unknown; lines?: unknown; all?: unknown }

/** The pending dead letters an action names: `lines: [n, ...]` or `all: true`. */
async function chosen(pipeline: Pipeline, body: DeadLetterAction): Promise<DeadLetterEntry[]> {
  const file = pipeline.deadLetterFile;
  if (file === undefined) throw new ApiError(409, `pipeline ${pipeline.name} has no dead-letter file (deadLetter: {type: file, path})`);
  const pending = (await file.list()).filter((e) => e.decision === undefined);
  if (body.all === true) return pending;
  if (!Array.isArray(body.lines) || !body.lines.every((n) => Number.isInteger(n))) throw new ApiError(400, 'name the dead letters: {"lines": [12, 13]} or {"all": true}');
  const wanted = new Set(body.lines as number[]);
  return pending.filter((e) => wanted.has(e.line));
}

export async function retryDeadLetters(ctx: ConsoleContext, body: DeadLetterAction): Promise<{ status: number; body: unknown }> {
  const pipeline = findPipeline(ctx, body.pipeline);
  if (pipeline.health !== 'running' && pipeline.health !== 'degraded') throw new ApiError(409, `pipeline ${pipeline.name} is ${pipeline.health}: dead letters are retried by the instance that streams`);
  const entries = await chosen(pipeline, body);
  if (entries.length === 0) return { status: 200, body: { retried: 0, message: 'nothing pending to retry' } };
  const lines = entries.map((e) => e.line);
  // Decided only once the sink confirmed: a retry that never lands leaves the dead letter pending.
  const delivered = pipeline.redeliver(entries.map((e) => e.event)).then(() => pipeline.deadLetterFile!.decide(lines, 'retried'));
  let timer: NodeJS.Timeout | undefined;
  const waited = await Promise.race([delivered.then(() => true), new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), RETRY_WAIT_MS); })]);
  clearTimeout(timer);
  if (waited) return { status: 200, body: { retried: lines.length, message: `${lines.length} event(s) delivered to ${ctx.redaction.text(pipeline.sinkName)}` } };
  return { status: 202, body: { retried: 0, message: `${lines.length} event(s) handed to the pipeline; the sink has not confirmed them yet (they stay pending until it does)` } };
}

export async function discardDeadLetters(ctx: ConsoleContext, body: DeadLetterAction): Promise<unknown> {
  const pipeline = findPipeline(ctx, body.pipeline);
  const entries = await chosen(pipeline, body);
  pipeline.deadLetterFile!.decide(entries.map((e) => e.line), 'discarded');
  return { discarded: entries.length };
}

export function snapshots(ctx: ConsoleContext): unknown {
  return {
    pipelines: ctx.pipelines.map((p) => {
      const stats = p.stats;
      const rate = ctx.history.snapshotRowsPerSecond(p.name);
      const initial = stats?.snapshot;
      const incremental = stats?.incrementalSnapshot;
      const left = (rows: number, estimated: number) => (rate > 0 && estimated > rows ? Math.round((estimated - rows) / rate) : null);
      return {
        name: p.name,
        signals: p.config.snapshot.signals,
        rowsPerSecond: Math.round(rate),
        initial: initial === undefined ? null : { ...initial, secondsLeft: initial.done ? 0 : left(initial.rows, initial.estimatedRows) },
        incremental: incremental === undefined ? null : { ...incremental, secondsLeft: incremental.tablesQueued === 0 ? 0 : left(incremental.rows, incremental.estimatedRows) },
      };
    }),
  };
}

interface SnapshotAction { pipeline?: unknown; action?: unknown; table?: unknown; where?: unknown }

/** Starts, pauses, resumes or stops an incremental snapshot: the same signal `pgcdc snapshot` writes, addressed to this pipeline's slot. */
export async function snapshotAction(ctx: ConsoleContext, body: SnapshotAction): Promise<unknown> {
  const pipeline = findPipeline(ctx, body.pipeline);
  if (!pipeline.config.snapshot.signals) throw new ApiError(409, `pipeline ${pipeline.name} has snapshot.signals: false`);
  const slot = pipeline.config.source.slot;
  const table = typeof body.table === 'string' && body.table.trim() !== '' ? body.table.trim() : undefined;
  let signal: SnapshotSignal;
  switch (body.action) {
    case 'start':
      if (table === undefined) throw new ApiError(400, 'name the table to snapshot: schema.table');
      signal = { type: 'execute-snapshot', tables: [table], slot, ...(typeof body.where === 'string' && body.where.trim() ? { where: body.where.trim() } : {}) };
      break;
    case 'stop': signal = { type: 'stop-snapshot', slot, ...(table ? { tables: [table] } : {}) }; break;
    case 'pause': signal = { type: 'pause-snapshot', slot }; break;
    case 'resume': signal = { type: 'resume-snapshot', slot }; break;
    default: throw new ApiError(400, 'action is one of start, stop, pause, resume');
  }
  const content = JSON.stringify(signal);
  parseSignal(content); // the pipelines' own rules
  const sql = await SqlConnection.open(resolveConnection(pipeline.config.source.url));
  try {
    const [row] = await sql.query<{ lsn: string }>('SELECT pg_logical_emit_message(false, $1, $2)::text AS lsn', [SIGNAL_PREFIX, content]);
    return { signal, lsn: formatLsn(parseLsn(row!.lsn)) };
  } finally {
    await sql.close();
  }
}

/** Every slot on each server the pipelines read, active or not, with the failover warnings of `pgcdc slot list`. */
export async function slots(ctx: ConsoleContext): Promise<unknown> {
  const servers = new Map<string, Pipeline[]>();
  for (const p of ctx.pipelines) {
    const display = resolveConnection(p.config.source.url).display;
    servers.set(display, [...(servers.get(display) ?? []), p]);
  }
  return {
    servers: await Promise.all([...servers].map(async ([display, pipelines]) => {
      const server = ctx.redaction.text(display);
      let sql: SqlConnection | undefined;
      try {
        sql = await SqlConnection.open(resolveConnection(pipelines[0]!.config.source.url));
        const list = await listSlots(sql);
        const warnings = await failoverWarnings(sql, list);
        return {
          server,
          warnings: warnings.map((w) => ctx.redaction.text(w)),
          slots: list.map((s) => ({
            ...s,
            confirmedFlushLsn: s.confirmedFlushLsn === null ? null : formatLsn(s.confirmedFlushLsn),
            restartLsn: s.restartLsn === null ? null : formatLsn(s.restartLsn),
            pipeline: pipelines.find((p) => p.config.source.slot === s.name)?.name ?? null,
          })),
          error: null,
        };
      } catch (error) {
        return { server, warnings: [], slots: [], error: ctx.redaction.text(describe(error)) };
      } finally {
        await sql?.close();
      }
    })),
  };
}

export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (isCdcError(error)) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

export function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  if (error instanceof CdcError && (error.code === 'PGCDC_BAD_SIGNAL' || error.code === 'PGCDC_BAD_ARGUMENT')) return 400;
  return 500;
}
