/** OIDs of the built-in types pgcdc converts specially (pg_type.dat). */
export const Oid = {
  bool: 16, bytea: 17, char: 18, name: 19, int8: 20, int2: 21, int2vector: 22, int4: 23, regproc: 24, text: 25,
  oid: 26, tid: 27, xid: 28, cid: 29, oidvector: 30, json: 114, xml: 142, point: 600, lseg: 601, path: 602,
  box: 603, polygon: 604, line: 628, cidr: 650, float4: 700, float8: 701, circle: 718, macaddr8: 774,
  money: 790, macaddr: 829, inet: 869, bpchar: 1042, varchar: 1043, date: 1082, time: 1083, timestamp: 1114,
  timestamptz: 1184, interval: 1186, timetz: 1266, bit: 1560, varbit: 1562, numeric: 1700, uuid: 2950,
  pgLsn: 3220, tsvector: 3614, tsquery: 3615, jsonb: 3802, jsonpath: 4072, xid8: 5069,
} as const;

/**
 * Built-in array types → element type, so arrays of built-ins convert even
 * before the catalog is read. Everything else comes from the type registry.
 */
export const BUILTIN_ARRAY_ELEMENTS: ReadonlyMap<number, number> = new Map([
  [1000, Oid.bool], [1001, Oid.bytea], [1002, Oid.char], [1003, Oid.name], [1005, Oid.int2], [1007, Oid.int4],
  [1009, Oid.text], [1014, Oid.bpchar], [1015, Oid.varchar], [1016, Oid.int8], [1021, Oid.float4],
  [1022, Oid.float8], [1028, Oid.oid], [1011, Oid.xid], [1182, Oid.date], [1183, Oid.time], [1115, Oid.timestamp],
  [1185, Oid.timestamptz], [1187, Oid.interval], [1270, Oid.timetz], [1231, Oid.numeric], [2951, Oid.uuid],
  [199, Oid.json], [3807, Oid.jsonb], [1041, Oid.inet], [651, Oid.cidr], [1040, Oid.macaddr], [775, Oid.macaddr8],
  [1561, Oid.bit], [1563, Oid.varbit], [791, Oid.money], [143, Oid.xml], [3643, Oid.tsvector], [1017, Oid.point],
  [1018, Oid.lseg], [1019, Oid.path], [1020, Oid.box], [1027, Oid.polygon], [629, Oid.line], [719, Oid.circle],
  [3221, Oid.pgLsn], [271, Oid.xid8],
  // Arrays of the built-in ranges and multiranges: JSON arrays of the ranges' text forms.
  [3905, 3904], [3907, 3906], [3909, 3908], [3911, 3910], [3913, 3912], [3927, 3926],
  [6150, 4451], [6151, 4532], [6152, 4533], [6153, 4534], [6155, 4535], [6157, 4536],
]);

/** Built-in range types (their text form is kept, as Debezium does). */
export const BUILTIN_RANGES: ReadonlySet<number> = new Set([3904, 3906, 3908, 3910, 3912, 3926, 4451, 4532, 4533, 4534, 4535, 4536]);
