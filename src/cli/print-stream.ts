/**
 * Prints a change stream (tail and demo): pretty or JSON lines, one write per
 * batch, and a batch is confirmed only once all its events were written. With
 * --max-events the last batch may be cut: then it is not confirmed, so the slot
 * stays at the end of the last transaction printed whole, and the rest of that
 * transaction is printed again next time (never lost).
 */
import type { ChangeStream } from '../engine/change-stream.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { connectRecordParts } from '../format/connect-envelope.ts';
import { formatPretty } from '../format/pretty.ts';
import { stringifyExact } from '../core/json.ts';
import { FdWriter } from '../sink/stdout-writer.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { StreamMetrics } from '../observe/metrics.ts';
import { notice } from './output.ts';

/** Dead letters are written (and so handled) before their batch is confirmed. */
function writeDeadLetters(deadLetters: DeadLetter[], writer: FdWriter | undefined): void {
  if (writer === undefined) {
    for (const d of deadLetters) notice(`dead letter from ${d.stage}: ${d.reason} (event ${d.event.id})`);
    return;
  }
  writer.writeLines(deadLetters.map((d) => stringifyExact({ reason: d.reason, stage: d.stage, event: d.event })));
}

export type OutputFormat = 'pretty' | 'json';

export interface PrintOptions {
  format: OutputFormat;
  /** JSON lines as Debezium's envelope (default) or with Kafka Connect's schema (`sourceName` names the schemas). */
  envelope?: 'debezium' | 'debezium-connect';
  sourceName?: string;
  /**
   * Where dead letters go: a writer for JSON lines ({reason, stage, event}), or
   * undefined for one warning line each on stderr.
   */
  deadLetters?: FdWriter;
  /** Counts what was handled, when metrics are served. */
  metrics?: StreamMetrics;
  color: boolean;
  maxEvents?: number;
  /** Stop after this many seconds without a change. */
  untilIdleSeconds?: number;
  writer?: FdWriter;
}

export interface PrintResult {
  printed: number;
  reason: 'end' | 'max-events' | 'idle' | 'interrupted' | 'output-closed';
}

/** A batch to print: `confirm` (when present) is called once it is written whole. */
export interface PrintableBatch {
  events: ChangeEvent[];
  deadLetters: DeadLetter[];
  confirm?: () => void;
}

export interface PrintControl {
  interrupted(): boolean;
  /** Ends the iteration soon (idle timeout). */
  requestStop(): void;
}

export async function printStream(stream: ChangeStream, options: PrintOptions, interrupted: () => boolean): Promise<PrintResult> {
  return printBatches(stream, options, { interrupted, requestStop: () => stream.requestStop() });
}

export async function printBatches(batches: AsyncIterable<PrintableBatch>, options: PrintOptions, control: PrintControl): Promise<PrintResult> {
  const interrupted = control.interrupted;
  const writer = options.writer ?? new FdWriter(1);
  const render: (event: ChangeEvent) => string = options.format === 'pretty'
    ? (event) => formatPretty(event, { color: options.color })
    : options.envelope === 'debezium-connect'
      ? (event) => connectRecordParts(event, options.sourceName ?? 'pgcdc').value
      : (event) => stringifyExact(event);
  let printed = 0;
  let reason: PrintResult['reason'] = 'end';
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    if (options.untilIdleSeconds === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => { reason = 'idle'; control.requestStop(); }, options.untilIdleSeconds * 1000);
  };
  armIdle();
  try {
    for await (const batch of batches) {
      if (batch.deadLetters.length > 0) writeDeadLetters(batch.deadLetters, options.deadLetters);
      const limit = options.maxEvents === undefined ? batch.events.length : Math.min(batch.events.length, options.maxEvents - printed);
      const lines = new Array<string>(limit);
      for (let i = 0; i < limit; i++) lines[i] = render(batch.events[i]!);
      if (limit > 0 && !writer.writeLines(lines)) {
        reason = 'output-closed';
        break;
      }
      printed += limit;
      if (limit === batch.events.length) {
        batch.confirm?.();
        options.metrics?.observe(batch.events, batch.deadLetters);
      }
      if (batch.events.length === 0) armIdle();
      if (options.maxEvents !== undefined && printed >= options.maxEvents) {
        reason = 'max-events';
        break;
      }
      if (interrupted()) {
        reason = 'interrupted';
        break;
      }
      armIdle();
    }
  } finally {
    clearTimeout(idleTimer);
  }
  if (interrupted() && reason === 'end') reason = 'interrupted';
  return { printed, reason };
}
