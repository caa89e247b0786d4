/**
 * JSON values as pgcdc hands them out. Numbers that a JavaScript number cannot
 * hold exactly (int8 beyond ±2^53, long numbers inside json/jsonb) are
 * `RawJson` values: `JSON.stringify` writes their digits verbatim, so the JSON a
 * sink receives is exact. `isRawJson(v)` tells them apart; `String(v.rawJSON)`
 * gives the digits.
 */
import { CdcError } from './errors.ts';
export interface RawJson {
  readonly rawJSON: string;
}

export type JsonValue = null | boolean | number | string | RawJson | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

interface JsonWithRaw {
  rawJSON(text: string): RawJson;
  isRawJSON(value: unknown): value is RawJson;
  parse(text: string, reviver: (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown): unknown;
}

const jsonWithRaw = JSON as unknown as JsonWithRaw;

if (typeof jsonWithRaw.rawJSON !== 'function') {
  throw new CdcError('PGCDC_NODE_VERSION', 'pgcdc needs Node.js 22 or newer (JSON.rawJSON is missing)');
}

/** A number written verbatim into JSON output. `digits` must be a valid JSON number. */
export function rawJsonNumber(digits: string): RawJson {
  return jsonWithRaw.rawJSON(digits);
}

export function isRawJson(value: unknown): value is RawJson {
  return jsonWithRaw.isRawJSON(value);
}

/**
 * Parses JSON text without losing a number's text: every number a double would
 * write differently (long, `1e400`, `1.50`, `-0`) stays verbatim (`RawJson`), the
 * rest are plain numbers. Takes the slower reviver path only when the text may
 * hold one. (Duplicate keys are not kept: the last one wins; `jsonText` keeps them.)
 * Used for `json` values (under `jsonText`), `jsonb` (under `parseJsonb`) and logical messages' JSON content.
 */
export function parseJsonExact(text: string): JsonValue {
  return scanJson(text, INEXACT) !== 0 ? parseKeepingInexactNumbers(text) : JSON.parse(text) as JsonValue;
}

/**
 * A `jsonb` column's value, from PostgreSQL's own text (and an audit
 * message's content, read the same way). Parsed as by
 * `parseJsonExact`, unless an object key is an array index (`"10"`): a
 * JavaScript object lists such keys first, in numeric order, wherever
 * PostgreSQL put them (`{"a": 1, "10": 2}` would be written `{"10":2,"a":1}`).
 * Such a document keeps its text, compacted, as a `jsonText` value: written
 * verbatim, in PostgreSQL's key order, and frozen for transforms, as `json`
 * values are. Finding out costs nothing extra: the scan for inexact numbers
 * already visits every string's end.
 */
export function parseJsonb(text: string): JsonValue {
  const found = scanJson(text, INEXACT | INDEX_KEY);
  if ((found & INDEX_KEY) !== 0) return jsonText(compactJson(text));
  return (found & INEXACT) !== 0 ? parseKeepingInexactNumbers(text) : JSON.parse(text) as JsonValue;
}

/** What `scanJson` looks for: a number whose text a double would change; an object key that is an array index. */
const INEXACT = 1;
const INDEX_KEY = 2;

/**
 * Which of `wanted` `text` holds (it stops once it found them all).
 *
 * INEXACT: a number whose text a double would change: 16 or more
 * digits, counted across the decimal point (`31.181986179340492` has 17 and no
 * double holds it), an exponent (`1e400` is Infinity as a double, `1e0` would
 * be `1`), a fraction ending in 0 (`1.50` would be `1.5`), a value below 10^-6
 * written out (`0.0000001` would be `1e-7`), or a negative zero. Without the
 * fraction and small-value cases a number's text would depend on whether
 * another number of the same document took the exact path. A false alarm
 * (fifteen digits and a point) only takes the slower exact path.
 *
 * INDEX_KEY: a key (a string followed by `:`) that JavaScript treats as an
 * array index.
 *
 * Hand-written because it is on the hot path (every jsonb value of every row,
 * every outbox message): strings are skipped with `indexOf` (numbers never
 * occur in them, and most of a document is strings), and only the runs of
 * digits and points between them are looked at. On W1's payloads this costs a
 * third of a character-by-character scan, which had replaced an anchored regex
 * that cost a half more again; and an md5 in a string is never mistaken for a
 * number.
 */
function scanJson(text: string, wanted: number): number {
  const n = text.length;
  let found = 0;
  let run = 0;
  let point = false;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const close = closingQuote(text, i);
      if (close < 0) return wanted; // not JSON: JSON.parse's error will say so
      if ((wanted & INDEX_KEY) !== 0 && isArrayIndex(text, i + 1, close) && followedByColon(text, close + 1)) {
        found |= INDEX_KEY;
        if (found === wanted) return found;
      }
      i = close;
      continue;
    }
    if (c - 0x30 >>> 0 <= 9 || c === 0x2e) {
      if (run === 0) point = false;
      if (c === 0x2e) point = true;
      if (++run === 16) {
        found |= INEXACT;
        if (found === wanted) return found;
      }
      last = c;
    } else if (run !== 0) {
      // outside strings, a letter right after a number is its exponent
      if (c === 0x65 || c === 0x45 || inexactRun(text, i - run, run, point, last)) {
        found |= INEXACT;
        if (found === wanted) return found;
      }
      run = 0;
    }
  }
  if (run !== 0 && inexactRun(text, n - run, run, point, last)) found |= INEXACT;
  return found & wanted;
}

/** `parseJsonExact`, saying too whether an object key is an array index to JavaScript (`"10"`, which a parsed object lists first): one scan for both. */
export function parseJsonExactNotingIndexKeys(text: string): { value: JsonValue; indexKey: boolean } {
  const found = scanJson(text, INEXACT | INDEX_KEY);
  const value = (found & INEXACT) !== 0 ? parseKeepingInexactNumbers(text) : JSON.parse(text) as JsonValue;
  return { value, indexKey: (found & INDEX_KEY) !== 0 };
}

function followedByColon(text: string, at: number): boolean {
  let c = text.charCodeAt(at);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++at);
  return c === 0x3a;
}

/** Whether `text[start, end)` is an array index to JavaScript: a canonical integer from 0 to 2^32 - 2. */
function isArrayIndex(text: string, start: number, end: number): boolean {
  const length = end - start;
  if (length < 1 || length > 10) return false;
  if (length > 1 && text.charCodeAt(start) === 0x30) return false;
  for (let i = start; i < end; i++) if (text.charCodeAt(i) - 0x30 >>> 0 > 9) return false;
  return length < 10 || text.slice(start, end) <= '4294967294';
}

/**
 * The text of member `key` of the JSON object `text` (its last, as JSON.parse
 * keeps the last of duplicate keys), compacted; undefined when it has none.
 * For a value inside a document that must keep its text (an outbox message's
 * payload), found without parsing it again.
 */
export function memberText(text: string, key: string): string | undefined {
  let depth = 0;
  let found: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const close = closingQuote(text, i);
      if (close < 0) return undefined;
      if (depth === 1 && followedByColon(text, close + 1) && (JSON.parse(text.slice(i, close + 1)) as string) === key) {
        const start = text.indexOf(':', close + 1) + 1;
        const end = valueEnd(text, start);
        found = compactJson(text.slice(start, end).trim());
        i = end - 1;
        continue;
      }
      i = close;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return found;
}

/** Where the JSON value starting at `start` (after whitespace) ends: past its closing bracket or quote, or at the `,`/`}` after a scalar. */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = closingQuote(text, i);
      if (i < 0) return text.length;
      if (depth === 0) return i + 1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i; // a scalar's end: the object's closing brace
      if (--depth === 0) return i + 1;
    } else if (c === 0x2c && depth === 0) return i;
  }
  return text.length;
}

/** JSON text without the whitespace between its tokens (strings untouched). */
function compactJson(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const close = closingQuote(text, i);
      if (close < 0) break;
      i = close;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      out += text.slice(from, i);
      from = i + 1;
    }
  }
  return out + text.slice(from);
}

/** A run of digits and points (a number of fewer than 16, no exponent) that a double would write differently: `1.50`, `0.0000001`, `-0`. */
function inexactRun(text: string, start: number, run: number, point: boolean, last: number): boolean {
  return (point && last === 0x30) // a fraction ending in 0 (`-0.0` too)
    || (run > 8 && text.startsWith('0.000000', start))
    || (run === 1 && last === 0x30 && text.charCodeAt(start - 1) === 0x2d); // -0
}

/** The index of the `"` that closes the string opened at `open` (one not escaped by an odd number of backslashes), or -1. */
function closingQuote(text: string, open: number): number {
  let close = text.indexOf('"', open + 1);
  while (close > 0 && text.charCodeAt(close - 1) === 0x5c) {
    let before = close - 2;
    while (text.charCodeAt(before) === 0x5c) before--;
    if ((close - before) % 2 === 1) break; // an even number of backslashes: they escape each other
    close = text.indexOf('"', close + 1);
  }
  return close;
}

/** The slow path: every number whose text a double would change is kept as its text. */
function parseKeepingInexactNumbers(text: string): JsonValue {
  return jsonWithRaw.parse(text, (_key, value, context) => {
    if (typeof value === 'number' && context.source !== undefined && String(value) !== context.source) {
      return jsonWithRaw.rawJSON(context.source);
    }
    return value;
  }) as JsonValue;
}

/**
 * A `json` column's value: text the user chose to keep as text (duplicate keys,
 * key order, spacing, `1e400`). The value handed to transforms is the parsed
 * JSON; serialized by `stringifyExact`, it is the column's text, verbatim (less
 * leading and trailing whitespace). Objects and arrays carry their text through
 * a non-enumerable `toJSON` (so `Object.keys`, spreads and comparisons see only
 * the parsed value); a scalar whose text JSON.stringify would not reproduce
 * (`"\u00e9"`, `1e400`) is a `RawJson` of that text. `beforeFreeze` may add
 * what must not be serialized (a symbol-keyed property) to an object or array.
 */
export function jsonText(text: string, beforeFreeze?: (value: object) => void): JsonValue {
  const value = parseJsonExact(text);
  const trimmed = text.trim();
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' && JSON.stringify(value) !== trimmed ? jsonWithRaw.rawJSON(trimmed) : value;
  }
  if (isRawJson(value)) return value;
  // Frozen, because a change made in place would be lost to the text: a
  // transform that changes a json value replaces it (a spread copy has no text).
  exactTexts.set(value, trimmed);
  Object.defineProperty(value, 'toJSON', { value: exactTextToJson, enumerable: false });
  beforeFreeze?.(value);
  deepFreeze(value);
  return value;
}

const exactTexts = new WeakMap<object, string>();

function deepFreeze(value: JsonValue): void {
  if (value === null || typeof value !== 'object' || isRawJson(value)) return;
  for (const child of Array.isArray(value) ? value : Object.values(value)) deepFreeze(child);
  Object.freeze(value);
}

/** What `toJSON` answers: a placeholder while `stringifyExact` runs (spliced for the text after), a plain copy otherwise. */
type CaptureMode = 'off' | 'splice' | 'wrap';
let capture: CaptureMode = 'off';
const captured: string[] = [];
const NONCE = Math.random().toString(36).slice(2, 10);
/** A NUL cannot occur in PostgreSQL text, so no column value can look like this. */
const PLACEHOLDER = `\u0000pgcdc-json-${NONCE}:`;
const PLACEHOLDER_PATTERN = new RegExp(`"\\\\u0000pgcdc-json-${NONCE}:(\\d+)"`, 'g');
/** The spill file's form of an exact `json` value: `{"\u0000pgcdc.json": text}`. */
const WRAP_KEY = '\u0000pgcdc.json';

function exactTextToJson(this: object): unknown {
  const text = exactTexts.get(this);
  if (text !== undefined && capture === 'splice') {
    captured.push(text);
    return PLACEHOLDER + (captured.length - 1);
  }
  if (text !== undefined && capture === 'wrap') return { [WRAP_KEY]: text };
  return Array.isArray(this) ? [...this] : { ...this };
}

function withCapture(mode: CaptureMode, value: unknown): string {
  capture = mode;
  try {
    return JSON.stringify(value);
  } finally {
    capture = 'off';
  }
}

/**
 * JSON text of a value in which every `json` column value (`jsonText`) is its
 * exact text. Every serialization of events for delivery goes through here;
 * when no such value is present it costs one JSON.stringify.
 */
export function stringifyExact(value: unknown): string {
  const out = withCapture('splice', value);
  if (captured.length === 0) return out;
  const texts = captured.splice(0);
  return out.replace(PLACEHOLDER_PATTERN, (_match, index: string) => texts[Number(index)]!);
}

/** For a round trip through a file (the spill file): `json` values stay exact text when read back with `parseRoundTrip`. */
export function stringifyRoundTrip(value: unknown): string {
  return withCapture('wrap', value);
}

export function parseRoundTrip(text: string): JsonValue {
  if (!text.includes(WRAP_KEY_ESCAPED)) return parseJsonExact(text);
  const value = parseJsonExact(text);
  return restoreWrapped(value);
}

const WRAP_KEY_ESCAPED = '\\u0000pgcdc.json';

function restoreWrapped(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object' || isRawJson(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreWrapped(value[i]!);
    return value;
  }
  const wrapped = value[WRAP_KEY];
  if (typeof wrapped === 'string' && Object.keys(value).length === 1) return jsonText(wrapped);
  for (const key of Object.keys(value)) value[key] = restoreWrapped(value[key]!);
  return value;
}
