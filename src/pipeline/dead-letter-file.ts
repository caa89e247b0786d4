/**
 * The dead-letter file: one JSON line per rejected event, `{reason, stage,
 * event, meta?}`, appended and fsynced before the batch that held the event is
 * confirmed (so a dead letter is never lost to a crash). `meta` keeps what the
 * serialised event lacks and a re-delivery needs: the row's key, for outbox
 * records the route, and the column types (so a retried record in Kafka
 * Connect's form has the schema the original would have had).
 *
 * What an operator decides about a dead letter (retried, discarded) goes to a
 * second append-only file beside it, `<path>.decisions`, one JSON line per
 * decision: the dead-letter file itself is never rewritten, so its lines are
 * stable ids, and a decision survives a restart.
 */
import { existsSync } from 'node:fs';
import { readLines } from '../core/read-lines.ts';
import { stringifyExact } from '../core/json.ts';
import { CdcError } from '../core/errors.ts';
import { attachEventMeta, eventMeta } from '../events/event-builder.ts';
import type { ChangeEvent, Route } from '../events/change-event.ts';
import type { JsonObject } from '../core/json.ts';
import type { ColumnType } from '../core/change-types.ts';
import { openAppendWriter, type FdWriter } from '../sink/stdout-writer.ts';
import type { DeadLetter } from '../transform/transform.ts';

export type DeadLetterDecision = 'retried' | 'discarded';

export interface DeadLetterEntry {
  /** The line number in the file (1-based): the dead letter's id. */
  line: number;
  reason: string;
  stage: string;
  event: ChangeEvent;
  /** Set once an operator retried or discarded it. */
  decision: { action: DeadLetterDecision; at: string } | undefined;
}

/** What a re-delivery needs beside the event: its key, an outbox route, and the column types (the Connect envelope's schema). */
interface StoredMeta { key: JsonObject | null; route?: Route; columns?: ColumnType[] }

export class DeadLetterFile {
  readonly path: string;
  private readonly writer: FdWriter;
  private decisionWriter: FdWriter | undefined;

  constructor(path: string) {
    this.path = path;
    this.writer = openAppendWriter(path);
  }

  append(deadLetters: readonly DeadLetter[]): void {
    this.writer.write(`${deadLetters.map((d) => {
      const meta = eventMeta(d.event);
      const stored: StoredMeta | undefined = meta === undefined || (meta.key === null && meta.route === undefined && meta.columns === undefined) ? undefined : {
        key: meta.key,
        ...(meta.route ? { route: meta.route } : {}),
        ...(meta.columns ? { columns: meta.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeModifier: c.typeModifier })) } : {}),
      };
      return stringifyExact({ reason: d.reason, stage: d.stage, event: d.event, ...(stored ? { meta: stored } : {}) });
    }).join('\n')}\n`);
  }

  /** Every dead letter in the file, with the decisions taken on it, oldest first. */
  async list(): Promise<DeadLetterEntry[]> {
    const decisions = await this.decisions();
    const entries: DeadLetterEntry[] = [];
    let line = 0;
    for await (const text of linesOf(this.path)) {
      line++;
      if (text.trim() === '') continue;
      let parsed: { reason?: unknown; stage?: unknown; event?: unknown; meta?: StoredMeta };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        continue; // a line cut short by a crash mid-write: it was never confirmed, so its batch is read again
      }
      const event = parsed.event as ChangeEvent;
      if (parsed.meta !== undefined) {
        const { key, route, columns } = parsed.meta;
        attachEventMeta(event, { key, commitLsn: undefined, lsn: undefined, ...(route ? { route } : {}), ...(columns ? { columns } : {}) });
      }
      entries.push({ line, reason: String(parsed.reason), stage: String(parsed.stage), event, decision: decisions.get(line) });
    }
    return entries;
  }

  /** Records a decision on these lines (fsynced). */
  decide(lines: readonly number[], action: DeadLetterDecision): void {
    if (lines.length === 0) return;
    this.decisionWriter ??= openAppendWriter(`${this.path}.decisions`);
    const at = new Date().toISOString();
    this.decisionWriter.write(`${lines.map((line) => JSON.stringify({ line, action, at })).join('\n')}\n`);
  }

  private async decisions(): Promise<Map<number, { action: DeadLetterDecision; at: string }>> {
    const byLine = new Map<number, { action: DeadLetterDecision; at: string }>();
    for await (const text of linesOf(`${this.path}.decisions`)) {
      try {
        const d = JSON.parse(text) as { line: number; action: DeadLetterDecision; at: string };
        byLine.set(d.line, { action: d.action, at: d.at });
      } catch { /* a torn last line */ }
    }
    return byLine;
  }
}

/** The file's lines; none when it does not exist (yet). */
async function* linesOf(path: string): AsyncGenerator<string> {
  if (!existsSync(path)) return;
  try {
    yield* readLines(path);
  } catch (error) {
    throw new CdcError('PGCDC_OUTPUT', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}
