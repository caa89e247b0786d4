/**
 * Type names as format_type() prints them (wal2json's "columntypes", test_decoding's
 * `name[type]`) → built-in OIDs, so text plugins convert values exactly as pgoutput
 * does. Modifiers are ignored (`numeric(5,2)` → numeric); `X[]` is an array of X.
 * Names not here (enums, domains, extension types) keep their text form.
 */
import { BUILTIN_ARRAY_ELEMENTS, Oid } from './builtin-types.ts';

const NAMES: ReadonlyMap<string, number> = new Map([
  ['boolean', Oid.bool], ['bytea', Oid.bytea], ['"char"', Oid.char], ['name', Oid.name], ['bigint', Oid.int8],
  ['smallint', Oid.int2], ['integer', Oid.int4], ['text', Oid.text], ['oid', Oid.oid], ['xid', Oid.xid], ['xid8', Oid.xid8],
  ['json', Oid.json], ['jsonb', Oid.jsonb], ['xml', Oid.xml], ['point', Oid.point], ['lseg', Oid.lseg], ['path', Oid.path],
  ['box', Oid.box], ['polygon', Oid.polygon], ['line', Oid.line], ['circle', Oid.circle], ['cidr', Oid.cidr], ['inet', Oid.inet],
  ['macaddr', Oid.macaddr], ['macaddr8', Oid.macaddr8], ['real', Oid.float4], ['double precision', Oid.float8], ['money', Oid.money],
  ['character', Oid.bpchar], ['character varying', Oid.varchar], ['date', Oid.date], ['time without time zone', Oid.time],
  ['timestamp without time zone', Oid.timestamp], ['timestamp with time zone', Oid.timestamptz], ['interval', Oid.interval],
  ['time with time zone', Oid.timetz], ['bit', Oid.bit], ['bit varying', Oid.varbit], ['numeric', Oid.numeric], ['uuid', Oid.uuid],
  ['pg_lsn', Oid.pgLsn], ['tsvector', Oid.tsvector], ['tsquery', Oid.tsquery], ['jsonpath', Oid.jsonpath],
]);

const ARRAY_OF = new Map<number, number>([...BUILTIN_ARRAY_ELEMENTS].map(([array, element]) => [element, array]));

/** The OID for a type name, or undefined when pgcdc does not know it (the value stays text). */
export function oidForTypeName(typeName: string): number | undefined {
  let name = typeName.trim();
  let arrays = 0;
  while (name.endsWith('[]')) {
    name = name.slice(0, -2);
    arrays++;
  }
  // Drop modifiers: numeric(5,2), character varying(10), timestamp(3) with time zone.
  name = name.replace(/\(\d+(,\d+)?\)/, '').replace(/\s+/g, ' ').trim();
  const base = NAMES.get(name);
  if (base === undefined) return undefined;
  if (arrays === 0) return base;
  return ARRAY_OF.get(base); // multi-dimensional arrays share the array type
}
