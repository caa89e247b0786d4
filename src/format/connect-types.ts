/**
 * Kafka Connect schemas and value encodings for PostgreSQL columns, as
 * Debezium's PostgreSQL connector writes them with its defaults
 * (decimal.handling.mode=precise, time.precision.mode=adaptive,
 * interval.handling.mode=numeric, binary.handling.mode=bytes). docs/types.md
 * lists them type by type beside pgcdc's own form.
 *
 * Encoders start from pgcdc's own value (decode/values), not from the text, so
 * both forms come from one conversion; each is compiled once per column type.
 */
import { isRawJson, rawJsonNumber, stringifyExact, type JsonValue } from '../core/json.ts';
import { BUILTIN_ARRAY_ELEMENTS, Oid } from '../decode/values/builtin-types.ts';

export interface ConnectSchema {
  type: 'int16' | 'int32' | 'int64' | 'float' | 'double' | 'boolean' | 'string' | 'bytes' | 'array' | 'struct';
  optional: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  items?: ConnectSchema;
  fields?: ConnectField[];
}

export type ConnectField = ConnectSchema & { field: string };

export interface ColumnEncoding {
  schema: ConnectSchema;
  encode: (value: JsonValue) => JsonValue;
}

const same = (value: JsonValue): JsonValue => value;
const plain = (type: ConnectSchema['type']): ColumnEncoding => ({ schema: { type, optional: true }, encode: same });
const named = (type: ConnectSchema['type'], name: string, encode: ColumnEncoding['encode'] = same, parameters?: Record<string, string>): ColumnEncoding => ({
  schema: { type, optional: true, name, version: 1, ...(parameters ? { parameters } : {}) },
  encode,
});

/** The encoding of one column, by type OID and type modifier. Types it does not know are strings (JSON text for non-strings). */
export function columnEncoding(typeOid: number, typeModifier: number): ColumnEncoding {
  const element = BUILTIN_ARRAY_ELEMENTS.get(typeOid);
  if (element !== undefined) {
    const inner = columnEncoding(element, typeModifier);
    return {
      schema: { type: 'array', optional: true, items: inner.schema },
      // Connect arrays have one dimension: a multi-dimensional array is flattened in order.
      encode: (value) => Array.isArray(value) ? value.flat(Infinity as 1).map((v) => (v === null ? null : inner.encode(v))) : value,
    };
  }
  switch (typeOid) {
    case Oid.bool: return plain('boolean');
    case Oid.int2: return plain('int16');
    case Oid.int4: return plain('int32');
    case Oid.int8: case Oid.oid: case Oid.xid: case Oid.xid8: return plain('int64');
    case Oid.float4: return plain('float');
    case Oid.float8: return plain('double');
    case Oid.bytea: return plain('bytes');
    case Oid.numeric: return numericEncoding(typeModifier);
    case Oid.money: return named('bytes', DECIMAL, (v) => decimalBytes(moneyDigits(String(v)), 2), { scale: '2' });
    case Oid.date: return named('int32', 'io.debezium.time.Date', (v) => epochDays(String(v)));
    case Oid.time: return typeModifier >= 0 && typeModifier <= 3
      ? named('int32', 'io.debezium.time.Time', (v) => Math.trunc(timeMicros(String(v)) / 1000))
      : named('int64', 'io.debezium.time.MicroTime', (v) => timeMicros(String(v)));
    case Oid.timestamp: return typeModifier >= 0 && typeModifier <= 3
      ? named('int64', 'io.debezium.time.Timestamp', (v) => timestampMicros(String(v), 1000))
      : named('int64', 'io.debezium.time.MicroTimestamp', (v) => timestampMicros(String(v), 1));
    case Oid.timestamptz: return named('string', 'io.debezium.time.ZonedTimestamp');
    case Oid.timetz: return named('string', 'io.debezium.time.ZonedTime', (v) => timeWithZoneInUtc(String(v)));
    case Oid.interval: return named('int64', 'io.debezium.time.MicroDuration', (v) => intervalMicros(String(v)));
    case Oid.json: case Oid.jsonb: return named('string', 'io.debezium.data.Json', (v) => stringifyExact(v));
    case Oid.uuid: return named('string', 'io.debezium.data.Uuid');
    case Oid.xml: return named('string', 'io.debezium.data.Xml');
    case Oid.point: return pointEncoding();
    case Oid.bit: case Oid.varbit: return bitsEncoding(typeOid, typeModifier);
    default: return { schema: { type: 'string', optional: true }, encode: (v) => (typeof v === 'string' ? v : stringifyExact(v)) };
  }
}

const DECIMAL = 'org.apache.kafka.connect.data.Decimal';

/** numeric(p,s): Connect's Decimal (scale fixed); numeric: Debezium's VariableScaleDecimal. NaN and ±Infinity have no form there: null, as Debezium gives. */
function numericEncoding(typeModifier: number): ColumnEncoding {
  if (typeModifier >= 4) {
    const precision = ((typeModifier - 4) >> 16) & 0xffff;
    const scale = (typeModifier - 4) & 0xffff;
    return named('bytes', DECIMAL, (v) => (isFinite(String(v)) ? decimalBytes(String(v), scale) : null), { scale: String(scale), 'connect.decimal.precision': String(precision) });
  }
  return {
    schema: {
      type: 'struct', optional: true, name: 'io.debezium.data.VariableScaleDecimal', version: 1,
      fields: [{ type: 'int32', optional: false, field: 'scale' }, { type: 'bytes', optional: false, field: 'value' }],
    },
    encode: (v) => {
      const text = String(v);
      if (!isFinite(text)) return null;
      // Debezium strips trailing zeros, never below scale 0.
      const [whole, fraction = ''] = text.split('.');
      const trimmed = fraction.replace(/0+$/, '');
      return { scale: trimmed.length, value: decimalBytes(`${whole}.${trimmed}`, trimmed.length) };
    },
  };
}

const isFinite = (text: string) => text !== 'NaN' && text !== 'Infinity' && text !== '-Infinity';

/** The unscaled value of a decimal text at `scale`, as big-endian two's complement bytes in base64 (Connect's Decimal). */
export function decimalBytes(text: string, scale: number): string {
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const unscaled = BigInt(`${whole}${fraction.padEnd(scale, '0').slice(0, scale)}` || '0') * (negative ? -1n : 1n);
  return twosComplement(unscaled).toString('base64');
}

function twosComplement(value: bigint): Buffer {
  // The fewest bytes that hold the value with its sign bit (Java's BigInteger.toByteArray).
  let bytes = 1;
  while (value >= 1n << BigInt(8 * bytes - 1) || value < -(1n << BigInt(8 * bytes - 1))) bytes++;
  const out = Buffer.alloc(bytes);
  let rest = BigInt.asUintN(8 * bytes, value);
  for (let i = bytes - 1; i >= 0; i--) { out[i] = Number(rest & 0xffn); rest >>= 8n; }
  return out;
}

/** `$1,234.56`, `-$1,234.56`, `($1,234.56)` (lc_monetary C or en_US) → `-1234.56`. */
function moneyDigits(text: string): string {
  const negative = text.includes('-') || text.startsWith('(');
  return `${negative ? '-' : ''}${text.replace(/[^0-9.]/g, '')}`;
}

/** Days from 1970-01-01 in the proleptic Gregorian calendar, for any year (Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Debezium reads `infinity` and `-infinity` dates as these two (PostgresValueConverter's POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE). */
const INFINITY_DAYS = daysFromCivil(-5877611, 6, 21);
const MINUS_INFINITY_DAYS = daysFromCivil(-5877611, 6, 22);

/** pgcdc's date text (`2024-02-29`, `-000043-03-15`, `+275760-09-13`) → days since the epoch. */
function epochDays(text: string): JsonValue {
  if (text === 'infinity') return INFINITY_DAYS;
  if (text === '-infinity') return MINUS_INFINITY_DAYS;
  const match = /^([+-]?\d+)-(\d\d)-(\d\d)/.exec(text);
  return match === null ? null : daysFromCivil(Number(match[1]), Number(match[2]), Number(match[3]));
}

/** `HH:MM:SS[.ffffff]` → microseconds since midnight (`24:00:00` is a whole day). */
function timeMicros(text: string): number {
  const match = /^(\d+):(\d\d):(\d\d)(?:\.(\d+))?/.exec(text);
  if (match === null) return 0;
  return ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1_000_000 + Number((match[4] ?? '').padEnd(6, '0').slice(0, 6));
}

/** PgJDBC's infinity timestamps, in microseconds, which Debezium passes on. */
const INFINITY_MICROS = 9223372036825200000n;
const MINUS_INFINITY_MICROS = -9223372036832400000n;

/** pgcdc's timestamp text (`2024-01-02T03:04:05.678901`) → micro- or milliseconds since the epoch (`per` 1 or 1000). */
function timestampMicros(text: string, per: 1 | 1000): JsonValue {
  if (text === 'infinity' || text === '-infinity') {
    return rawJsonNumber(String((text === 'infinity' ? INFINITY_MICROS : MINUS_INFINITY_MICROS) / BigInt(per)));
  }
  const at = text.indexOf('T');
  const days = epochDays(text.slice(0, at));
  if (typeof days !== 'number') return null;
  const micros = BigInt(days) * 86_400_000_000n + BigInt(timeMicros(text.slice(at + 1)));
  return exactInteger(per === 1 ? micros : floorDiv(micros, 1000n));
}

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

function exactInteger(value: bigint): JsonValue {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : rawJsonNumber(value.toString());
}

/** `12:00:00+05:30` → `06:30:00Z`: Debezium gives timetz in UTC. */
function timeWithZoneInUtc(text: string): string {
  const match = /^(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d(?::?\d\d)?(?::?\d\d)?)$/.exec(text);
  if (match === null) return text;
  const zone = match[5]!;
  let offsetSeconds = 0;
  if (zone !== 'Z') {
    const parts = zone.slice(1).split(':').map(Number);
    offsetSeconds = (zone[0] === '-' ? -1 : 1) * ((parts[0] ?? 0) * 3600 + (parts[1] ?? 0) * 60 + (parts[2] ?? 0));
  }
  const seconds = (((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3]) - offsetSeconds) % 86400 + 86400) % 86400;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}${match[4] ?? ''}Z`;
}

/**
 * ISO 8601 interval (`P1Y2M3DT4H5M6.5S`, `P-1D`) → microseconds, Debezium's
 * MicroDuration: months are 365.25/12 days, computed in doubles as Debezium does.
 */
function intervalMicros(text: string): JsonValue {
  const match = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?[\d.]+)S)?)?$/.exec(text);
  if (match === null) return null;
  const [years, months, days, hours, minutes] = [1, 2, 3, 4, 5].map((i) => Number(match[i] ?? 0)) as [number, number, number, number, number];
  const seconds = Number(match[6] ?? 0);
  const totalDays = (years * 12 + months) * (365.25 / 12) + days;
  const micros = Math.trunc(((((totalDays * 24) + hours) * 60 + minutes) * 60 + seconds) * 1e6);
  return Number.isSafeInteger(micros) ? micros : rawJsonNumber(BigInt(micros).toString());
}

/** Debezium's io.debezium.data.geometry.Point: x, y and the point as little-endian WKB. */
function pointEncoding(): ColumnEncoding {
  return {
    schema: {
      type: 'struct', optional: true, name: 'io.debezium.data.geometry.Point', version: 1,
      fields: [
        { type: 'double', optional: false, field: 'x' },
        { type: 'double', optional: false, field: 'y' },
        { type: 'bytes', optional: true, field: 'wkb' },
        { type: 'int32', optional: true, field: 'srid' },
      ],
    },
    encode: (v) => {
      const point = v as { x: JsonValue; y: JsonValue };
      const x = coordinate(point.x);
      const y = coordinate(point.y);
      const wkb = Buffer.alloc(21);
      wkb.writeUInt8(1, 0);
      wkb.writeUInt32LE(1, 1);
      wkb.writeDoubleLE(x, 5);
      wkb.writeDoubleLE(y, 13);
      return { x: point.x, y: point.y, wkb: wkb.toString('base64'), srid: null };
    },
  };
}

function coordinate(value: JsonValue): number {
  if (typeof value === 'number') return value;
  if (isRawJson(value)) return Number(value.rawJSON);
  return Number(value); // "NaN", "Infinity", "-Infinity"
}

/** bit(1) is a boolean; longer bit strings are io.debezium.data.Bits: little-endian bytes, sized to the highest set bit. */
function bitsEncoding(typeOid: number, typeModifier: number): ColumnEncoding {
  if (typeOid === Oid.bit && typeModifier === 1) return { schema: { type: 'boolean', optional: true }, encode: (v) => v === '1' };
  const length = typeModifier > 0 ? typeModifier : 2147483647;
  return named('bytes', 'io.debezium.data.Bits', (v) => {
    const bits = String(v);
    const bytes: number[] = [];
    for (let i = 0; i < bits.length; i++) {
      if (bits[bits.length - 1 - i] !== '1') continue;
      while (bytes.length <= i >> 3) bytes.push(0);
      bytes[i >> 3]! |= 1 << (i & 7);
    }
    return Buffer.from(bytes).toString('base64');
  }, { length: String(length) });
}
