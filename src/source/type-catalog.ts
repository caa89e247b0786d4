/**
 * Reads user-defined types (enums, domains, composites, ranges, arrays) from
 * the catalog into the type registry that the pure value converter consults.
 */
import type { TypeKind, TypeRegistry } from '../decode/values/type-registry.ts';
import type { SqlConnection } from './sql-connection.ts';

interface TypeRow {
  oid: number; nspname: string; typname: string; typtype: string; typcategory: string;
  typelem: number; typbasetype: number; typdelim: string; attributes: Array<{ name: string; type: number }> | null;
}

/** Loads every type with an OID at or above 10000 (all non-built-in types) and their arrays. */
export async function loadTypes(sql: SqlConnection, registry: TypeRegistry, onlyOids?: number[]): Promise<number> {
  const rows = await sql.query<TypeRow>(
    `SELECT t.oid::int AS oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typelem::int AS typelem,
            t.typbasetype::int AS typbasetype, t.typdelim,
            CASE WHEN t.typtype = 'c' THEN (
              SELECT json_agg(json_build_object('name', a.attname, 'type', a.atttypid::int) ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS attributes
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ($1::oid[] IS NULL AND t.oid >= 10000 AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
         OR t.oid = ANY($1::oid[])`,
    [onlyOids ?? null],
  );
  for (const row of rows) {
    const kind = kindOf(row);
    registry.add({
      oid: row.oid,
      namespace: row.nspname,
      name: row.typname,
      kind,
      ...(kind === 'array' ? { elementOid: row.typelem, delimiter: row.typdelim } : {}),
      ...(kind === 'domain' ? { baseOid: row.typbasetype } : {}),
      ...(kind === 'composite' && row.attributes ? { attributes: row.attributes.map((a) => ({ name: a.name, typeOid: a.type })) } : {}),
    });
  }
  return rows.length;
}

function kindOf(row: TypeRow): TypeKind {
  if (row.typcategory === 'A' && row.typelem !== 0) return 'array';
  switch (row.typtype) {
    case 'e': return 'enum';
    case 'd': return 'domain';
    case 'c': return 'composite';
    case 'r': return 'range';
    case 'm': return 'multirange';
    case 'p': return 'pseudo';
    default: return 'base';
  }
}

/**
 * Primary key columns by table OID. pgoutput flags every column as "key" under
 * REPLICA IDENTITY FULL, so for such tables the event key comes from here, as
 * Debezium takes it from the catalog.
 */
export async function loadPrimaryKeys(sql: SqlConnection, keys: Map<number, string[]>, onlyRelids?: number[]): Promise<void> {
  const rows = await sql.query<{ relid: number; columns: string[] }>(
    `SELECT i.indrelid::int AS relid, array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) AS columns
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indisprimary AND ($1::oid[] IS NULL OR i.indrelid = ANY($1::oid[]))
      GROUP BY i.indrelid`,
    [onlyRelids ?? null],
  );
  for (const row of rows) keys.set(row.relid, row.columns);
  for (const relid of onlyRelids ?? []) if (!keys.has(relid)) keys.set(relid, []);
}
