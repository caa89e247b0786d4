/**
 * Which tables can have their updates and deletes published. A publication that
 * publishes updates or deletes of a table without a usable replica identity (no
 * primary key under REPLICA IDENTITY DEFAULT, REPLICA IDENTITY NOTHING, or an
 * identity index that is gone) makes PostgreSQL refuse the application's own
 * UPDATE and DELETE on that table ("cannot update table ... because it does not
 * have a replica identity and publishes updates"). pgcdc must never cause that
 * (docs/decisions/0009-publications-never-break-writes.md).
 */
import type { QualifiedTable } from './publications.ts';
import type { SqlConnection } from './sql-connection.ts';

/** Ordinary and partitioned tables of the database, without system schemas (nor pgcdc's own, delivered-position.ts); partitions are covered by their root. */
const USER_TABLES = `
  SELECT n.nspname AS schema, c.relname AS "table",
    CASE c.relreplident
      WHEN 'f' THEN true
      WHEN 'n' THEN false
      WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
      WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
    END AS has_identity
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgcdc') AND n.nspname NOT LIKE 'pg\\_%'`;

export interface TableIdentity extends QualifiedTable {
  hasIdentity: boolean;
}

export async function userTables(sql: SqlConnection): Promise<TableIdentity[]> {
  const rows = await sql.query<{ schema: string; table: string; has_identity: boolean }>(`${USER_TABLES} ORDER BY 1, 2`);
  return rows.map((r) => ({ schema: r.schema, table: r.table, hasIdentity: r.has_identity }));
}

/** The tables a publication publishes updates or deletes of that have no usable replica identity. */
export async function publishedWithoutIdentity(sql: SqlConnection, publication: string): Promise<QualifiedTable[]> {
  return sql.query<QualifiedTable>(`
    SELECT t.schema, t."table" FROM (${USER_TABLES}) t
    JOIN pg_publication_tables pt ON pt.schemaname = t.schema AND pt.tablename = t."table"
    JOIN pg_publication p ON p.pubname = pt.pubname
    WHERE pt.pubname = $1 AND (p.pubupdate OR p.pubdelete) AND NOT t.has_identity
    ORDER BY 1, 2`, [publication]);
}

/** How to give a table a replica identity, for messages. */
export function identityFix(table: QualifiedTable): string {
  return `ALTER TABLE ${table.schema}.${table.table} REPLICA IDENTITY FULL (or add a primary key)`;
}
