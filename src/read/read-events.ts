/**
 * pg_recvlogical output (wal2json or test_decoding) → batches of events in the
 * same envelope as a live pgoutput stream: parse → assemble → events → transforms.
 */
import { CdcError } from '../core/errors.ts';
import { formatLsn } from '../core/lsn.ts';
import { PGCDC_VERSION } from '../core/version.ts';
import { TextAssembler } from '../assemble/text-assembler.ts';
import { DEFAULT_TOAST_PLACEHOLDER } from '../assemble/tuple-to-row.ts';
import { DEFAULT_MEMORY_BUDGET_BYTES } from '../assemble/transaction-assembler.ts';
import { PluginOutputParser, type TextFormat, type TextPlugin } from '../decode/text-plugins/output-parser.ts';
import { TextParseError } from '../decode/text-plugins/records.ts';
import { ValueConverter } from '../decode/values/convert.ts';
import { TypeRegistry } from '../decode/values/type-registry.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { buildNonTransactionalMessageEvent, type SourceIdentity } from '../events/event-builder.ts';
import { DEFAULT_CHUNK_EVENTS, transactionEventChunks } from '../engine/transaction-chunks.ts';
import { buildTransforms } from '../engine/build-transforms.ts';
import type { ChangeStreamOptions } from '../engine/change-stream-types.ts';
import { composeTransforms } from '../transform/transform-chain.ts';
import type { DeadLetter } from '../transform/transform.ts';
import type { DateOrder } from '../decode/values/date-styles.ts';

export interface ReadOptions extends Pick<ChangeStreamOptions, 'filter' | 'outbox' | 'audit' | 'transforms' | 'toastPlaceholder' | 'memoryBudgetBytes' | 'spillDir'> {
  plugin?: TextPlugin | 'auto';
  /** Skip malformed records (counted) instead of stopping at the first. */
  skipBad?: boolean;
  /** `source.name` (default pgcdc) and `source.db` (default empty: files do not say). */
  sourceName?: string;
  database?: string;
  /** Name of the input, for error messages. */
  inputName?: string;
  /** Month or day first, for dates printed in the SQL or Postgres DateStyle (ambiguous without it). */
  dateOrder?: DateOrder;
  /** The writing server's TimeZone (IANA name), for times printed with a zone abbreviation. */
  timeZone?: string;
  batchSize?: number;
}

export interface ReadBatch {
  events: ChangeEvent[];
  deadLetters: DeadLetter[];
}

export interface ReadStats {
  format: TextFormat | undefined;
  lines: number;
  skipped: number;
  firstSkippedLine: number | undefined;
  lastError: string | undefined;
}

export function createReader(options: ReadOptions = {}): { read(lines: AsyncIterable<string>): AsyncGenerator<ReadBatch>; stats: ReadStats } {
  const parser = new PluginOutputParser(options.plugin ?? 'auto');
  const assembler = new TextAssembler({
    // Files carry the DateStyle and IntervalStyle of the server that wrote them.
    converter: new ValueConverter(new TypeRegistry(), { anyDateStyle: { dateOrder: options.dateOrder, timeZone: options.timeZone } }),
    toastPlaceholder: options.toastPlaceholder ?? DEFAULT_TOAST_PLACEHOLDER,
    memoryBudgetBytes: options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES,
    ...(options.spillDir ? { spillDir: options.spillDir } : {}),
  });
  const pipeline = composeTransforms(buildTransforms({ filter: options.filter, outbox: options.outbox, audit: options.audit, transforms: options.transforms }));
  const identity: SourceIdentity = { version: PGCDC_VERSION, name: options.sourceName ?? 'pgcdc', db: options.database ?? '' };
  const batchSize = options.batchSize ?? DEFAULT_CHUNK_EVENTS;
  const stats: ReadStats = { format: undefined, lines: 0, skipped: 0, firstSkippedLine: undefined, lastError: undefined };
  let messages = 0;
  const input = options.inputName ?? 'input';

  const fail = (error: unknown, line: number): void => {
    const reason = error instanceof TextParseError ? error.message : `line ${line}: ${(error as Error).message}`;
    if (!options.skipBad) {
      throw new CdcError('PGCDC_BAD_INPUT', `${input}: ${reason}; fix the input or pass --skip-bad to skip malformed records`, { cause: error });
    }
    stats.skipped++;
    stats.firstSkippedLine ??= error instanceof TextParseError ? error.line : line;
    stats.lastError = reason;
    // Skip just this record: the transaction around it goes on without it.
    parser.recover();
  };

  async function* read(lines: AsyncIterable<string>): AsyncGenerator<ReadBatch> {
    for await (const text of lines) {
      let records;
      try {
        records = parser.push(text);
      } catch (error) {
        fail(error, parser.line);
        continue;
      }
      stats.lines = parser.line;
      stats.format = parser.detected;
      for (const record of records) {
        let output;
        try {
          output = assembler.push(record, undefined, text.length);
        } catch (error) {
          fail(error, parser.line);
          break;
        }
        if (output === undefined) continue;
        if (output.kind === 'message') {
          const idBase = output.lsn === undefined ? `message${++messages}` : formatLsn(output.lsn);
          const event = buildNonTransactionalMessageEvent(output.item, identity, Date.now(), idBase, null);
          const result = pipeline([event], undefined);
          if (result.events.length || result.deadLetters.length) yield result;
          continue;
        }
        try {
          for await (const chunk of transactionEventChunks(output.transaction, identity, batchSize, pipeline)) {
            if (chunk.events.length || chunk.deadLetters.length) yield { events: chunk.events, deadLetters: chunk.deadLetters };
          }
        } finally {
          output.transaction.buffer.dispose();
        }
      }
    }
    try {
      parser.end();
      if (assembler.inTransaction) throw new TextParseError('input ends inside a transaction (no COMMIT): truncated file?', parser.line);
    } catch (error) {
      fail(error, parser.line);
    } finally {
      assembler.reset();
    }
  }

  return { read, stats };
}
