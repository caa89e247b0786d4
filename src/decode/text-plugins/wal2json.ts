/**
 * wal2json output (https://github.com/eulerto/wal2json, 2.x):
 *
 * - format-version 1: one JSON document per transaction, {xid?, nextlsn?,
 *   timestamp?, change: [...]}, on one line or spread over many with
 *   `-o pretty-print=1`; non-transactional messages come as a document without xid.
 * - format-version 2: one JSON object per line, {"action": "B"|"C"|"I"|"U"|"D"|"T"|"M", ...}.
 *
 * Numbers are read with their exact digits (a numeric 1.50 stays "1.50") and
 * turned back into Postgres text form, so values convert exactly as with pgoutput.
 */
import { isLsnText, parseLsn, type Lsn } from '../../core/lsn.ts';
import { TextParseError, type TextColumn, type TextRecord } from './records.ts';

/** A JSON number, kept as its source text. */
class JsonNumberText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

interface JsonWithSource {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
}

function parseExactJson(text: string, line: number): unknown {
  try {
    return (JSON as unknown as JsonWithSource).parse(text, (_key, value, context) =>
      typeof value === 'number' && context.source !== undefined ? new JsonNumberText(context.source) : value);
  } catch (error) {
    throw new TextParseError(`invalid JSON: ${(error as Error).message}`, line);
  }
}

/**
 * A column in Postgres text form. wal2json writes bytea as bare hex (`010203`);
 * PostgreSQL's text form (and test_decoding's) is `\x010203`: put the prefix back,
 * so bytea converts to the same base64 as from pgoutput.
 */
function textColumn(name: string, typeName: string | undefined, value: unknown): TextColumn {
  const text = toText(value);
  return { name, typeName, value: text !== null && typeName === 'bytea' && !text.startsWith('\\x') ? `\\x${text}` : text };
}

/** A wal2json value in Postgres text form. */
function toText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof JsonNumberText) return value.text;
  if (value === true) return 't';
  if (value === false) return 'f';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function asString(value: unknown, what: string, line: number): string {
  if (typeof value !== 'string') throw new TextParseError(`${what} must be a string`, line);
  return value;
}

function asXid(value: unknown): number | undefined {
  return value instanceof JsonNumberText ? Number(value.text) : undefined;
}

function asLsn(value: unknown, line: number): Lsn | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !isLsnText(value)) throw new TextParseError(`invalid LSN ${JSON.stringify(value)}`, line);
  return parseLsn(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

const V1_KINDS: Record<string, 'c' | 'u' | 'd' | 't'> = { insert: 'c', update: 'u', delete: 'd', truncate: 't' };

/** Parses one format-version 1 document into its records (begin, changes, commit; or one message). */
export function parseWal2JsonV1(document: string, line: number): TextRecord[] {
  const doc = parseExactJson(document, line) as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.change)) throw new TextParseError('a wal2json format-version 1 document needs a "change" array', line);
  const xid = asXid(doc.xid);
  const endLsn = asLsn(doc.nextlsn, line);
  const commitTime = typeof doc.timestamp === 'string' ? doc.timestamp : undefined;
  const changes = doc.change as Array<Record<string, unknown>>;
  if (xid === undefined && changes.length === 1 && changes[0]!.kind === 'message' && changes[0]!.transactional === false) {
    return [messageRecord(changes[0]!, line, undefined)];
  }
  const records: TextRecord[] = [{ kind: 'begin', xid, commitTime, endLsn }];
  for (const change of changes) {
    if (change.kind === 'message') {
      records.push(messageRecord(change, line, xid));
      continue;
    }
    const op = V1_KINDS[String(change.kind)];
    if (op === undefined) throw new TextParseError(`unknown change kind ${JSON.stringify(change.kind)}`, line);
    const names = list(change.columnnames).map(String);
    const types = list(change.columntypes).map(String);
    const values = list(change.columnvalues);
    const old = (change.oldkeys ?? undefined) as Record<string, unknown> | undefined;
    const pk = (change.pk ?? undefined) as Record<string, unknown> | undefined;
    records.push({
      kind: 'change',
      op,
      schema: asString(change.schema, 'schema', line),
      table: asString(change.table, 'table', line),
      columns: op === 'c' || op === 'u' ? names.map((name, i) => textColumn(name, types[i], values[i])) : undefined,
      oldColumns: old ? list(old.keynames).map((name, i) => textColumn(String(name), list(old.keytypes)[i] as string | undefined, list(old.keyvalues)[i])) : undefined,
      keyNames: pk ? list(pk.pknames).map(String) : undefined,
      lsn: undefined,
      xid,
    });
  }
  records.push({ kind: 'commit', xid, commitTime, commitLsn: undefined, endLsn });
  return records;
}

function messageRecord(change: Record<string, unknown>, line: number, xid: number | undefined): TextRecord {
  return {
    kind: 'message',
    transactional: change.transactional === true,
    prefix: asString(change.prefix, 'message prefix', line),
    content: asString(change.content, 'message content', line),
    lsn: undefined,
    xid,
  };
}

const V2_ACTIONS: Record<string, 'c' | 'u' | 'd' | 't'> = { I: 'c', U: 'u', D: 'd', T: 't' };

function v2Columns(value: unknown): TextColumn[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((c: Record<string, unknown>) => textColumn(String(c.name), c.type as string | undefined, c.value));
}

/** Parses one format-version 2 line. */
export function parseWal2JsonV2(text: string, line: number): TextRecord {
  const o = parseExactJson(text, line) as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || typeof o.action !== 'string') throw new TextParseError('a wal2json format-version 2 line needs an "action"', line);
  const xid = asXid(o.xid);
  const lsn = asLsn(o.lsn, line);
  const commitTime = typeof o.timestamp === 'string' ? o.timestamp : undefined;
  switch (o.action) {
    case 'B':
      return { kind: 'begin', xid, commitTime, endLsn: asLsn(o.nextlsn, line) };
    case 'C':
      return { kind: 'commit', xid, commitTime, commitLsn: lsn, endLsn: asLsn(o.nextlsn, line) };
    case 'M':
      return { kind: 'message', transactional: o.transactional === true, prefix: asString(o.prefix, 'message prefix', line), content: asString(o.content, 'message content', line), lsn, xid };
    default: {
      const op = V2_ACTIONS[o.action];
      if (op === undefined) throw new TextParseError(`unknown action ${JSON.stringify(o.action)}`, line);
      return {
        kind: 'change',
        op,
        schema: asString(o.schema, 'schema', line),
        table: asString(o.table, 'table', line),
        columns: v2Columns(o.columns),
        oldColumns: v2Columns(o.identity),
        keyNames: Array.isArray(o.pk) ? o.pk.map((k: Record<string, unknown>) => String(k.name)) : undefined,
        lsn,
        xid,
      };
    }
  }
}
