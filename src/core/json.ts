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
 * Text a double may not hold exactly: a run of 16+ digits, an exponent (`1e400`
 * is Infinity as a double), or a negative zero (not the `-0` of `2024-01-02`).
 * V8's regex beats a hand loop here; a false alarm (`1e5` inside a string) only
 * takes the slower exact path.
 */
const LONG_DIGIT_RUN = /\d{16}|[\d.][eE][+-]?\d|-0(?:\.0+)?(?![\d.eE])/;

/**
 * Parses JSON text without losing numeric precision: numbers whose text does not
 * survive a round trip through a double (long, `1e400`, `-0`) stay verbatim
 * (`RawJson`). Takes the slower reviver path only when the text may hold one.
 * (Duplicate keys of a `json` value are not kept: the last one wins.)
 */
export function parseJsonExact(text: string): JsonValue {
  if (!LONG_DIGIT_RUN.test(text)) return JSON.parse(text) as JsonValue;
  return jsonWithRaw.parse(text, (_key, value, context) => {
    if (typeof value === 'number' && context.source !== undefined && String(value) !== context.source) {
      return jsonWithRaw.rawJSON(context.source);
    }
    return value;
  }) as JsonValue;
}
