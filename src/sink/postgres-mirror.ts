/**
 * The PostgreSQL sink's mirror mode: changes applied to tables of the same name
 * in the target database, in batches. Consecutive upserts of one table become
 * one `INSERT … SELECT … FROM json_populate_recordset … ON CONFLICT DO UPDATE`,
 * consecutive deletes one `DELETE … WHERE (key) IN (…)`; a snapshot of 200,000
 * rows is then a few hundred statements, not 200,000.
 *
 * Rows go through json_populate_record(set), so the target's column types decide
 * the conversion, and json keeps a json column's exact text.
 *
 * Tables without a key are mirrored by their full row (docs/run.md): inserts are
 * plain inserts; updates and deletes find one row equal to the old row
 * (REPLICA IDENTITY FULL gives it). Without an old row the change cannot be
 * placed, and is a dead letter with that reason. Re-applying the re-delivered
 * tail leaves the same rows for keyed tables; for keyless ones a re-delivered
 * insert adds its row again (there is no key to recognise it by).
 */
import type pg from 'pg';
import { stringifyExact, type JsonObject } from '../core/json.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { eventMeta } from '../events/event-builder.ts';

/** A change the mirror could not place: it goes to dead letters with `reason`. */
export interface MirrorRefusal {
  event: ChangeEvent;
  reason: string;
}

type Step =
  | { kind: 'upsert'; table: string; keyColumns: string[]; rows: Map<string, JsonObject> }
  | { kind: 'insert'; table: string; rows: JsonObject[] }
  | { kind: 'delete'; table: string; keyColumns: string[]; keys: JsonObject[] }
  | { kind: 'one'; event: ChangeEvent };

export class MirrorWriter {
  private readonly targetSchema: string | undefined;
  private readonly toastPlaceholder: string;

  constructor(targetSchema: string | undefined, toastPlaceholder: string) {
    this.targetSchema = targetSchema;
    this.toastPlaceholder = toastPlaceholder;
  }

  /** Applies `events` in order inside the caller's transaction; returns the changes that cannot be placed. */
  async apply(client: pg.Client, events: ChangeEvent[]): Promise<MirrorRefusal[]> {
    const refused: MirrorRefusal[] = [];
    for (const step of this.plan(events, refused)) await this.run(client, step, refused);
    return refused;
  }

  /** Applies one event alone (isolating a refused batch, postgres-mirror-sink.ts). */
  async applyOne(client: pg.Client, event: ChangeEvent): Promise<MirrorRefusal[]> {
    const refused: MirrorRefusal[] = [];
    await this.runOne(client, event, refused);
    return refused;
  }

  private tableOf(event: ChangeEvent): string {
    return `${quoteIdent(this.targetSchema ?? event.source.schema)}.${quoteIdent(event.source.table)}`;
  }

  /** Consecutive changes of one kind to one table, batched; the rest one by one, in order. */
  private plan(events: ChangeEvent[], refused: MirrorRefusal[]): Step[] {
    const steps: Step[] = [];
    for (const event of events) {
      if (event.op === 'm') continue;
      const table = this.tableOf(event);
      const key = eventMeta(event)?.key ?? null;
      const keyColumns = key === null ? [] : Object.keys(key);
      const last = steps[steps.length - 1];
      if (keyColumns.length === 0) {
        if (event.op === 'c' || event.op === 'r') {
          const row = this.writable(event.after ?? {});
          if (last?.kind === 'insert' && last.table === table) last.rows.push(row);
          else steps.push({ kind: 'insert', table, rows: [row] });
        } else if (event.op === 't' || event.before !== null) {
          steps.push({ kind: 'one', event });
        } else {
          refused.push({ event, reason: `${event.source.schema}.${event.source.table} has no key and the change carries no old row (REPLICA IDENTITY NOTHING or DEFAULT without a primary key): the mirror cannot find the row; give the source table a primary key or REPLICA IDENTITY FULL` });
        }
        continue;
      }
      const sameKeys = (s: Step | undefined): boolean => s !== undefined && 'keyColumns' in s && s.table === table && s.keyColumns.join('\u0000') === keyColumns.join('\u0000');
      if ((event.op === 'c' || event.op === 'r' || event.op === 'u') && !keyChanged(event, key!)) {
        const row = this.writable(event.after ?? {});
        if (last?.kind === 'upsert' && sameKeys(last) && sameColumns(last.rows, row)) {
          const id = stringifyExact(key);
          // A later version of a row already in this statement replaces it (ON CONFLICT cannot touch a row twice).
          last.rows.delete(id);
          last.rows.set(id, row);
        } else {
          steps.push({ kind: 'upsert', table, keyColumns, rows: new Map([[stringifyExact(key), row]]) });
        }
      } else if (event.op === 'd') {
        if (last?.kind === 'delete' && sameKeys(last)) last.keys.push(key!);
        else steps.push({ kind: 'delete', table, keyColumns, keys: [key!] });
      } else {
        steps.push({ kind: 'one', event });
      }
    }
    return steps;
  }

  /** The row without unchanged TOASTed values: their placeholder must never overwrite the mirror's value. */
  private writable(row: JsonObject): JsonObject {
    let out: JsonObject | undefined;
    for (const [name, value] of Object.entries(row)) {
      if (value !== this.toastPlaceholder) continue;
      out ??= { ...row };
      delete out[name];
    }
    return out ?? row;
  }

  private async run(client: pg.Client, step: Step, refused: MirrorRefusal[]): Promise<void> {
    switch (step.kind) {
      case 'upsert': return upsert(client, step.table, step.keyColumns, [...step.rows.values()]);
      case 'insert': return insert(client, step.table, step.rows);
      case 'delete': {
        const keys = step.keyColumns.map(quoteIdent).join(', ');
        await client.query(`DELETE FROM ${step.table} WHERE (${keys}) IN (SELECT ${keys} FROM json_populate_recordset(NULL::${step.table}, $1::json))`, [stringifyExact(step.keys)]);
        return;
      }
      case 'one': return this.runOne(client, step.event, refused);
    }
  }

  private async runOne(client: pg.Client, event: ChangeEvent, refused: MirrorRefusal[]): Promise<void> {
    if (event.op === 'm') return;
    const table = this.tableOf(event);
    if (event.op === 't') {
      await client.query(`TRUNCATE ${table}`);
      return;
    }
    const key = eventMeta(event)?.key ?? null;
    if (key === null || Object.keys(key).length === 0) return this.runKeyless(client, table, event, refused);
    const keyColumns = Object.keys(key);
    if (event.op === 'd') {
      await client.query(`DELETE FROM ${table} WHERE ${matchKey(table, keyColumns)}`, [stringifyExact(key)]);
      return;
    }
    await upsert(client, table, keyColumns, [this.writable(event.after ?? {})]);
    // An update that changed the key: the old row goes.
    if (keyChanged(event, key)) await client.query(`DELETE FROM ${table} WHERE ${matchKey(table, keyColumns)}`, [stringifyExact(event.before)]);
  }

  /** A keyless table: the row equal to the old one (all its columns) is updated or deleted, one row only. */
  private async runKeyless(client: pg.Client, table: string, event: ChangeEvent, refused: MirrorRefusal[]): Promise<void> {
    if (event.op === 'c' || event.op === 'r') return insert(client, table, [this.writable(event.after ?? {})]);
    const before = event.before;
    if (before === null || before === undefined) {
      refused.push({ event, reason: `${event.source.schema}.${event.source.table} has no key and the change carries no old row: the mirror cannot find the row; give the source table a primary key or REPLICA IDENTITY FULL` });
      return;
    }
    const columns = Object.keys(before).filter((c) => before[c] !== this.toastPlaceholder).map(quoteIdent);
    const same = columns.map((c) => `t.${c} IS NOT DISTINCT FROM o.${c}`).join(' AND ');
    const one = `SELECT t.ctid FROM ${table} t, json_populate_record(NULL::${table}, $1::json) o WHERE ${same || 'true'} LIMIT 1`;
    if (event.op === 'd') {
      await client.query(`DELETE FROM ${table} WHERE ctid = (${one})`, [stringifyExact(before)]);
      return;
    }
    const after = this.writable(event.after ?? {});
    const set = Object.keys(after).map(quoteIdent).map((c) => `${c} = n.${c}`).join(', ');
    await client.query(`UPDATE ${table} SET ${set} FROM json_populate_record(NULL::${table}, $2::json) n WHERE ${table}.ctid = (${one})`, [stringifyExact(before), stringifyExact(after)]);
  }
}

function keyChanged(event: ChangeEvent, key: JsonObject): boolean {
  const before = event.before;
  return event.op === 'u' && before !== null && before !== undefined && Object.keys(key).some((k) => k in before && stringifyExact(before[k]) !== stringifyExact(key[k]));
}

function sameColumns(rows: Map<string, JsonObject>, row: JsonObject): boolean {
  const first = rows.values().next().value as JsonObject;
  const a = Object.keys(first);
  const b = Object.keys(row);
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

function matchKey(table: string, keyColumns: string[]): string {
  return keyColumns.map(quoteIdent).map((c) => `${c} = (json_populate_record(NULL::${table}, $1::json)).${c}`).join(' AND ');
}

async function upsert(client: pg.Client, table: string, keyColumns: string[], rows: JsonObject[]): Promise<void> {
  const columns = Object.keys(rows[0]!).map(quoteIdent);
  const keys = keyColumns.map(quoteIdent);
  const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${c} = EXCLUDED.${c}`);
  await client.query(
    `INSERT INTO ${table} (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM json_populate_recordset(NULL::${table}, $1::json)
     ON CONFLICT (${keys.join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
    [stringifyExact(rows)],
  );
}

async function insert(client: pg.Client, table: string, rows: JsonObject[]): Promise<void> {
  // One statement per column set (rows of one table usually share it).
  const byColumns = new Map<string, JsonObject[]>();
  for (const row of rows) {
    const signature = Object.keys(row).join('\u0000');
    const group = byColumns.get(signature);
    if (group === undefined) byColumns.set(signature, [row]);
    else group.push(row);
  }
  for (const group of byColumns.values()) {
    const columns = Object.keys(group[0]!).map(quoteIdent).join(', ');
    await client.query(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::${table}, $1::json)`, [stringifyExact(group)]);
  }
}
