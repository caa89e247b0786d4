/**
 * Parsers for Postgres text output that has structure: arrays, composite
 * records, geometric types, dates and times. Input is what the server's output
 * functions print with the session settings pgcdc requests on the replication
 * connection (DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601,
 * extra_float_digits=3, bytea_output=hex): see source/connection-config.ts.
 */
import { rawJsonNumber, type JsonValue } from '../../core/json.ts';
import { CdcError } from '../../core/errors.ts';

/** A parsed array: nested for multi-dimensional input; `null` for NULL elements. */
export type TextArray = Array<string | null | TextArray>;

/**
 * Parses array text: `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","c\"d"}`, and the
 * `[0:1]={...}` form with explicit bounds (bounds dropped).
 */
export function parseArrayText(text: string, delimiter = ','): TextArray {
  let i = 0;
  if (text[0] === '[') {
    const eq = text.indexOf('=');
    if (eq < 0) throw new CdcError('PGCDC_PROTOCOL', `malformed array ${JSON.stringify(text)}`);
    i = eq + 1;
  }
  const parseLevel = (): TextArray => {
    if (text[i] !== '{') throw new CdcError('PGCDC_PROTOCOL', `malformed array ${JSON.stringify(text)}`);
    i++;
    const out: TextArray = [];
    if (text[i] === '}') { i++; return out; }
    for (;;) {
      const c = text[i];
      if (c === '{') out.push(parseLevel());
      else if (c === '"') {
        i++;
        let value = '';
        for (;;) {
          const ch = text[i++];
          if (ch === undefined) throw new CdcError('PGCDC_PROTOCOL', `unterminated quote in array ${JSON.stringify(text)}`);
          if (ch === '\\') value += text[i++] ?? '';
          else if (ch === '"') break;
          else value += ch;
        }
        out.push(value);
      } else {
        const start = i;
        while (i < text.length && text[i] !== delimiter && text[i] !== '}') i++;
        const raw = text.slice(start, i).trim();
        out.push(raw.toUpperCase() === 'NULL' ? null : raw);
      }
      const sep = text[i++];
      if (sep === '}') return out;
      if (sep !== delimiter) throw new CdcError('PGCDC_PROTOCOL', `malformed array ${JSON.stringify(text)}`);
    }
  };
  return parseLevel();
}

/** Parses a record `(1,"a b",,x)`: an empty unquoted field is NULL. */
export function parseRecordText(text: string): Array<string | null> {
  if (text[0] !== '(' || text[text.length - 1] !== ')') throw new CdcError('PGCDC_PROTOCOL', `malformed record ${JSON.stringify(text)}`);
  const fields: Array<string | null> = [];
  let i = 1;
  const end = text.length - 1;
  for (;;) {
    let value = '';
    let quoted = false;
    while (i < end && text[i] !== ',') {
      const ch = text[i++]!;
      if (ch === '"') {
        quoted = true;
        for (;;) {
          const q = text[i++];
          if (q === undefined) throw new CdcError('PGCDC_PROTOCOL', `unterminated quote in record ${JSON.stringify(text)}`);
          if (q === '"') {
            if (text[i] === '"') { value += '"'; i++; continue; }
            break;
          }
          if (q === '\\') { value += text[i++] ?? ''; continue; }
          value += q;
        }
      } else if (ch === '\\') {
        value += text[i++] ?? '';
      } else {
        value += ch;
      }
    }
    fields.push(value === '' && !quoted ? null : value);
    if (i >= end) return fields;
    i++; // the comma
  }
}

const NUMBER = /[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|Infinity|NaN)/g;

/**
 * A float8/float4 as JSON: a number, except what JSON numbers cannot say. NaN and
 * ±Infinity stay strings, as Debezium writes them; -0 keeps its sign (written
 * verbatim: JSON.stringify would print 0).
 */
export function floatValue(text: string): JsonValue {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return text;
  if (text === '-0') return rawJsonNumber('-0');
  return Number(text);
}

function numbers(text: string): JsonValue[] {
  return (text.match(NUMBER) ?? []).map(floatValue);
}

function points(values: JsonValue[]): Array<{ x: JsonValue; y: JsonValue }> {
  const out: Array<{ x: JsonValue; y: JsonValue }> = [];
  for (let k = 0; k + 1 < values.length; k += 2) out.push({ x: values[k]!, y: values[k + 1]! });
  return out;
}

/** Geometric types as small objects; see docs/types.md. */
export function parseGeometric(kind: 'point' | 'lseg' | 'box' | 'path' | 'polygon' | 'line' | 'circle', text: string): JsonValue {
  const n = numbers(text);
  switch (kind) {
    case 'point': return { x: n[0]!, y: n[1]! };
    case 'line': return { a: n[0]!, b: n[1]!, c: n[2]! };
    case 'circle': return { center: { x: n[0]!, y: n[1]! }, radius: n[2]! };
    case 'lseg':
    case 'box':
    case 'polygon': return points(n);
    case 'path': return { closed: text.trimStart().startsWith('('), points: points(n) };
  }
}

/** ISO 8601 date from Postgres ISO output, handling `BC` and 5+ digit years. */
export function isoDate(date: string, bc: boolean): string {
  const dash = date.indexOf('-', 1);
  const year = Number(date.slice(0, dash));
  if (!bc && year <= 9999) return date;
  return `${expandedYear(bc ? 1 - year : year)}${date.slice(dash)}`;
}

/** ISO 8601 expanded years: astronomical numbering (1 BC is year 0), six digits and a sign. */
export function expandedYear(astronomical: number): string {
  return `${astronomical < 0 ? '-' : '+'}${String(Math.abs(astronomical)).padStart(6, '0')}`;
}

/** `2024-01-02 03:04:05.5+00` → `2024-01-02T03:04:05.5Z` (TimeZone=UTC output). */
const ISO_DATE_TIME = /^\d{4,}-\d\d-\d\d /;

export function isoTimestamp(text: string, withZone: boolean): string {
  // Only ISO DateStyle output is rewritten; anything else (infinity, a server
  // with another DateStyle feeding a wal2json file) keeps its text.
  if (!ISO_DATE_TIME.test(text)) return text;
  let body = text;
  let bc = false;
  if (body.endsWith(' BC')) { bc = true; body = body.slice(0, -3); }
  const space = body.indexOf(' ');
  if (space < 0) return text;
  const date = isoDate(body.slice(0, space), bc);
  let time = body.slice(space + 1);
  if (withZone) time = isoZone(time);
  return `${date}T${time}`;
}

/** `03:04:05+02` → `03:04:05+02:00`; `+00` → `Z`. */
export function isoZone(time: string): string {
  const at = Math.max(time.lastIndexOf('+'), time.lastIndexOf('-'));
  if (at <= 0) return time;
  const zone = time.slice(at);
  if (zone === '+00' || zone === '+00:00' || zone === '-00') return `${time.slice(0, at)}Z`;
  if (/^[+-]\d\d$/.test(zone)) return `${time}:00`;
  return time;
}
