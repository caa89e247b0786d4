/**
 * test_decoding output, one line per record (a quoted value or message content
 * may continue on following lines: the parser asks for more):
 *
 *   BEGIN 726
 *   table public.users: INSERT: id[integer]:1 name[text]:'alice' bio[text]:unchanged-toast-datum
 *   table public.users: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2 name[text]:'bob'
 *   table public.users: DELETE: id[integer]:2
 *   table public.nokey: TRUNCATE: (no-flags)
 *   message: transactional: 1 prefix: outbox, sz: 8 content:{"id":1}
 *   COMMIT 726 (at 2026-11-21 20:57:34.235219+00)
 *
 * Format from contrib/test_decoding/test_decoding.c. It carries no LSNs.
 */
import { TextParseError, UNCHANGED_TOAST, type TextColumn, type TextRecord } from './records.ts';

/** Usually one record; a TRUNCATE of several tables is one record per table. */
export type ParseResult = { records: TextRecord[] } | { needMore: true };

const BEGIN = /^BEGIN(?: (\d+))?$/;
const COMMIT = /^COMMIT(?: (\d+))?(?: \(at (.+)\))?$/;
const MESSAGE = /^message: transactional: ([01]) prefix: (.*), sz: (\d+) content:/s;

/**
 * Parses one record from `text` (a line, or several joined by "\n" when the
 * previous call asked for more). `line` is the first line's number, for errors.
 */
export function parseTestDecoding(text: string, line: number): ParseResult {
  let m = BEGIN.exec(text);
  if (m) return { records: [{ kind: 'begin', xid: m[1] === undefined ? undefined : Number(m[1]), commitTime: undefined, endLsn: undefined }] };
  m = COMMIT.exec(text);
  if (m) return { records: [{ kind: 'commit', xid: m[1] === undefined ? undefined : Number(m[1]), commitTime: m[2], commitLsn: undefined, endLsn: undefined }] };
  m = MESSAGE.exec(text);
  if (m) {
    const size = Number(m[3]);
    const content = text.slice(m[0].length);
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes < size) return { needMore: true };
    if (bytes > size) throw new TextParseError(`message content is ${bytes} bytes, sz says ${size}`, line);
    return { records: [{ kind: 'message', transactional: m[1] === '1', prefix: m[2]!, content, lsn: undefined, xid: undefined }] };
  }
  if (text.startsWith('table ')) return parseTableLine(text, line);
  throw new TextParseError(`not test_decoding output: ${JSON.stringify(text.slice(0, 60))}`, line);
}

function parseTableLine(text: string, line: number): ParseResult {
  const cursor = { text, at: 6, line };
  const schema = readIdentifier(cursor, '.');
  expect(cursor, '.');
  const table = readIdentifier(cursor, ':,');
  // Only a TRUNCATE names several tables: `table public.a, public.b, public."C d": TRUNCATE: (no-flags)`.
  const more: Array<{ schema: string; table: string }> = [];
  while (text.startsWith(', ', cursor.at)) {
    cursor.at += 2;
    const nextSchema = readIdentifier(cursor, '.');
    expect(cursor, '.');
    more.push({ schema: nextSchema, table: readIdentifier(cursor, ':,') });
  }
  expect(cursor, ': ');
  const opEnd = text.indexOf(':', cursor.at);
  if (opEnd < 0) throw new TextParseError('missing operation', line);
  const operation = text.slice(cursor.at, opEnd);
  cursor.at = opEnd + 1;
  const base = { kind: 'change' as const, schema, table, keyNames: undefined, lsn: undefined, xid: undefined };
  const rest = text.slice(cursor.at).trimStart();
  if (more.length > 0 && operation !== 'TRUNCATE') throw new TextParseError(`${operation} of several tables`, line);
  switch (operation) {
    case 'INSERT': {
      const columns = readColumns(cursor);
      if (columns === 'more') return { needMore: true };
      return { records: [{ ...base, op: 'c', columns, oldColumns: undefined }] };
    }
    case 'UPDATE': {
      if (rest.startsWith('(no-tuple-data)')) return { records: [{ ...base, op: 'u', columns: [], oldColumns: undefined }] };
      let oldColumns: TextColumn[] | undefined;
      skipSpaces(cursor);
      if (text.startsWith('old-key:', cursor.at)) {
        cursor.at += 'old-key:'.length;
        const old = readColumns(cursor, ' new-tuple:');
        if (old === 'more') return { needMore: true };
        oldColumns = old;
        skipSpaces(cursor);
        expect(cursor, 'new-tuple:');
      }
      const columns = readColumns(cursor);
      if (columns === 'more') return { needMore: true };
      return { records: [{ ...base, op: 'u', columns, oldColumns }] };
    }
    case 'DELETE': {
      if (rest.startsWith('(no-tuple-data)')) return { records: [{ ...base, op: 'd', columns: undefined, oldColumns: [] }] };
      const oldColumns = readColumns(cursor);
      if (oldColumns === 'more') return { needMore: true };
      return { records: [{ ...base, op: 'd', columns: undefined, oldColumns }] };
    }
    case 'TRUNCATE':
      return { records: [{ schema, table }, ...more].map((t) => ({ ...base, ...t, op: 't' as const, columns: undefined, oldColumns: undefined })) };
    default:
      throw new TextParseError(`unknown operation ${JSON.stringify(operation)}`, line);
  }
}

interface Cursor { text: string; at: number; line: number }

function expect(c: Cursor, token: string): void {
  if (!c.text.startsWith(token, c.at)) throw new TextParseError(`expected ${JSON.stringify(token)} at column ${c.at + 1}`, c.line);
  c.at += token.length;
}

function skipSpaces(c: Cursor): void {
  while (c.text[c.at] === ' ') c.at++;
}

/** An identifier, quoted ("My Table", with "" escapes) or plain up to any of `stops`. */
function readIdentifier(c: Cursor, stops: string): string {
  if (c.text[c.at] === '"') {
    let value = '';
    c.at++;
    for (;;) {
      const ch = c.text[c.at++];
      if (ch === undefined) throw new TextParseError('unterminated quoted identifier', c.line);
      if (ch === '"') {
        if (c.text[c.at] === '"') { value += '"'; c.at++; continue; }
        return value;
      }
      value += ch;
    }
  }
  const start = c.at;
  while (c.at < c.text.length && !stops.includes(c.text[c.at]!) && c.text[c.at] !== '[') c.at++;
  return c.text.slice(start, c.at);
}

/** `name[type]:value` pairs up to the end (or `until`). Returns 'more' for an unterminated quoted value. */
function readColumns(c: Cursor, until?: string): TextColumn[] | 'more' {
  const columns: TextColumn[] = [];
  for (;;) {
    skipSpaces(c);
    if (c.at >= c.text.length) return columns;
    if (until !== undefined && c.text.startsWith(until.trimStart(), c.at)) return columns;
    const name = readIdentifier(c, '[');
    expect(c, '[');
    const typeEnd = c.text.indexOf(']:', c.at);
    if (typeEnd < 0) throw new TextParseError(`missing type of column ${name}`, c.line);
    const typeName = c.text.slice(c.at, typeEnd);
    c.at = typeEnd + 2;
    const value = readValue(c);
    if (value === 'more') return 'more';
    columns.push({ name, typeName, value });
  }
}

function readValue(c: Cursor): string | null | typeof UNCHANGED_TOAST | 'more' {
  const t = c.text;
  if (t[c.at] === "'") {
    let value = '';
    c.at++;
    for (;;) {
      const quote = t.indexOf("'", c.at);
      if (quote < 0) return 'more'; // the value continues on the next line
      value += t.slice(c.at, quote);
      c.at = quote + 1;
      if (t[c.at] === "'") { value += "'"; c.at++; continue; }
      return value;
    }
  }
  if (t.startsWith("B'", c.at)) { // bit strings: B'0101'
    const end = t.indexOf("'", c.at + 2);
    if (end < 0) throw new TextParseError('unterminated bit string', c.line);
    const value = t.slice(c.at + 2, end);
    c.at = end + 1;
    return value;
  }
  const start = c.at;
  while (c.at < t.length && t[c.at] !== ' ') c.at++;
  const token = t.slice(start, c.at);
  if (token === 'null') return null;
  if (token === 'unchanged-toast-datum') return UNCHANGED_TOAST;
  if (token === 'true') return 't';
  if (token === 'false') return 'f';
  return token; // numbers print unquoted
}
