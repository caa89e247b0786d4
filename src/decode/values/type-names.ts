/**
 * Type names as format_type() prints them (wal2json's "columntypes", test_decoding's
 * `name[type]`) → built-in OIDs, so text plugins convert values exactly as pgoutput
 * does. Modifiers are ignored (`numeric(5,2)` → numeric); `X[]` is an array of X;
 * pg_type's names (`int4`, `_int4`, `timestamptz`) are known too.
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

/**
 * pg_type's own names (typname), which wal2json prints with include-typmod=0 (as
 * its regression tests run) and for `"char"` in format 2: `int4`, `bool`,
 * `timestamptz`, `_int4` for an array of int4.
 */
const TYPNAMES: ReadonlyMap<string, number> = new Map([
  ['bool', Oid.bool], ['char', Oid.char], ['int8', Oid.int8], ['int2', Oid.int2], ['int4', Oid.int4], ['float4', Oid.float4],
  ['float8', Oid.float8], ['bpchar', Oid.bpchar], ['varchar', Oid.varchar], ['time', Oid.time], ['timetz', Oid.timetz],
  ['timestamp', Oid.timestamp], ['timestamptz', Oid.timestamptz], ['varbit', Oid.varbit],
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
  // typname of an array type: _int4 is int4[].
  if (arrays === 0 && name.startsWith('_') && name.length > 1) {
    name = name.slice(1);
    arrays = 1;
  }
  const base = NAMES.get(name) ?? TYPNAMES.get(name);
  if (base === undefined) return undefined;
  if (arrays === 0) return base;
  return ARRAY_OF.get(base); // multi-dimensional arrays share the array type
}
