/**
 * Postgres text values → JSON, losslessly. The mapping is documented type by
 * type in docs/types.md and tested row by row against a real server. A type
 * pgcdc does not know keeps its text form: never an error, never a drop.
 *
 * Converters are compiled once per column type (`converterFor`) and cached, so
 * the per-value cost is one function call and, for most types, no allocation
 * beyond the result.
 */
import { jsonText, parseJsonb, rawJsonNumber, type JsonValue } from '../../core/json.ts';
import { BUILTIN_ARRAY_ELEMENTS, BUILTIN_RANGES, Oid } from './builtin-types.ts';
import { floatValue, isoDate, isoTimestamp, isoZone, parseArrayText, parseGeometric, parseRecordText, type TextArray } from './text-parsers.ts';
import type { TypeRegistry } from './type-registry.ts';
import { styledDate, styledInterval, styledTimestamp, type DateOrder } from './date-styles.ts';

export type TextConverter = (text: string) => JsonValue;

const identity: TextConverter = (text) => text;

function toInteger(text: string): JsonValue {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : rawJsonNumber(text);
}

function toFloat(text: string): JsonValue {
  return floatValue(text);
}

function toBytea(text: string): JsonValue {
  // bytea_output=hex: "\x0a0b…"; base64 in JSON, as Debezium's JSON converter writes bytes.
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex').toString('base64');
  return text;
}

function toDate(text: string): JsonValue {
  if (text === 'infinity' || text === '-infinity') return text;
  return text.endsWith(' BC') ? isoDate(text.slice(0, -3), true) : isoDate(text, false);
}

function toInterval(text: string): JsonValue {
  return text; // IntervalStyle=iso_8601 already prints P1Y2M3DT4H5M6S
}

const BUILTIN: ReadonlyMap<number, TextConverter> = new Map<number, TextConverter>([
  [Oid.bool, (t) => t === 't'],
  [Oid.int2, Number],
  [Oid.int4, Number],
  [Oid.oid, Number],
  [Oid.xid, Number],
  [Oid.cid, Number],
  [Oid.int8, toInteger],
  [Oid.xid8, toInteger],
  [Oid.float4, toFloat],
  [Oid.float8, toFloat],
  [Oid.numeric, identity], // exact decimal as a string (Debezium decimal.handling.mode=string), NaN/±Infinity too
  [Oid.money, identity],
  [Oid.bytea, toBytea],
  [Oid.json, jsonText],
  [Oid.jsonb, parseJsonb],
  [Oid.date, toDate],
  [Oid.time, identity],
  [Oid.timetz, isoZone],
  [Oid.timestamp, (t) => isoTimestamp(t, false)],
  [Oid.timestamptz, (t) => isoTimestamp(t, true)],
  [Oid.interval, toInterval],
  [Oid.point, (t) => parseGeometric('point', t)],
  [Oid.lseg, (t) => parseGeometric('lseg', t)],
  [Oid.box, (t) => parseGeometric('box', t)],
  [Oid.path, (t) => parseGeometric('path', t)],
  [Oid.polygon, (t) => parseGeometric('polygon', t)],
  [Oid.line, (t) => parseGeometric('line', t)],
  [Oid.circle, (t) => parseGeometric('circle', t)],
]);

/** Converts values of one type. Cached per registry version. */
export interface ValueConverterOptions {
  /**
   * Values were printed with a DateStyle and IntervalStyle pgcdc did not choose
   * (files written by pg_recvlogical): read dates, timestamps and intervals in any
   * style (date-styles.ts). `dateOrder` settles the ambiguous SQL and Postgres
   * styles. Off for replication connections, which always print ISO.
   */
  anyDateStyle?: { dateOrder: DateOrder | undefined; timeZone?: string | undefined };
}

export class ValueConverter {
  private cache = new Map<number, TextConverter>();
  private cacheVersion = -1;
  private readonly registry: TypeRegistry;
  private readonly styled: ReadonlyMap<number, TextConverter> | undefined;

  constructor(registry: TypeRegistry, options: ValueConverterOptions = {}) {
    this.registry = registry;
    const order = options.anyDateStyle?.dateOrder;
    const timeZone = options.anyDateStyle?.timeZone;
    this.styled = options.anyDateStyle === undefined ? undefined : new Map<number, TextConverter>([
      [Oid.date, (t) => styledDate(t, order)],
      [Oid.timestamp, (t) => styledTimestamp(t, false, order)],
      [Oid.timestamptz, (t) => styledTimestamp(t, true, order, timeZone)],
      [Oid.interval, styledInterval],
    ]);
  }

  converterFor(typeOid: number): TextConverter {
    if (this.cacheVersion !== this.registry.version) {
      this.cache = new Map();
      this.cacheVersion = this.registry.version;
    }
    let converter = this.cache.get(typeOid);
    if (converter === undefined) {
      converter = this.build(typeOid, 0);
      this.cache.set(typeOid, converter);
    }
    return converter;
  }

  convert(typeOid: number, text: string): JsonValue {
    return this.converterFor(typeOid)(text);
  }

  private build(typeOid: number, depth: number): TextConverter {
    const builtin = this.styled?.get(typeOid) ?? BUILTIN.get(typeOid);
    if (builtin !== undefined) return builtin;
    if (depth > 16) return identity; // a domain/array chain this deep is not real; keep text
    const builtinElement = BUILTIN_ARRAY_ELEMENTS.get(typeOid);
    if (builtinElement !== undefined) return arrayConverter(this.build(builtinElement, depth + 1), builtinElement === Oid.box ? ';' : ',');
    if (BUILTIN_RANGES.has(typeOid)) return identity;
    const info = this.registry.get(typeOid);
    if (info === undefined) return identity;
    switch (info.kind) {
      case 'domain':
        return info.baseOid === undefined ? identity : this.build(info.baseOid, depth + 1);
      case 'array':
        return info.elementOid === undefined ? identity : arrayConverter(this.build(info.elementOid, depth + 1), info.delimiter ?? ',');
      case 'composite': {
        const attributes = info.attributes;
        if (attributes === undefined) return identity;
        const converters = attributes.map((a) => this.build(a.typeOid, depth + 1));
        return (text) => {
          const fields = parseRecordText(text);
          const out: { [key: string]: JsonValue } = {};
          for (let i = 0; i < attributes.length; i++) {
            const field = fields[i];
            out[attributes[i]!.name] = field === null || field === undefined ? null : converters[i]!(field);
          }
          return out;
        };
      }
      default:
        return identity; // enums, ranges, multiranges, unknown base types: the text form
    }
  }
}

function arrayConverter(element: TextConverter, delimiter: string): TextConverter {
  const mapLevel = (level: TextArray): JsonValue[] =>
    level.map((item) => (item === null ? null : Array.isArray(item) ? mapLevel(item) : element(item)));
  return (text) => mapLevel(parseArrayText(text, delimiter));
}
