/**
 * Publications: which tables pgoutput sends. Created when missing (for the
 * listed tables, or FOR ALL TABLES), reused as they are when present.
 */
import { CdcError } from '../core/errors.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { SqlConnection } from './sql-connection.ts';

export interface QualifiedTable {
  schema: string;
  table: string;
}

/** `public.users`, `users` (→ public), `"Mixed Case".t`. */
export function parseTableName(text: string): QualifiedTable {
  const parts = text.match(/"(?:[^"]|"")+"|[^.]+/g) ?? [];
  const unquote = (p: string) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p.toLowerCase());
  if (parts.length === 1) return { schema: 'public', table: unquote(parts[0]!) };
  if (parts.length === 2) return { schema: unquote(parts[0]!), table: unquote(parts[1]!) };
  throw new CdcError('PGCDC_BAD_ARGUMENT', `invalid table name "${text}": use schema.table`);
}

export function formatTable(t: QualifiedTable): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
}

export async function publicationExists(sql: SqlConnection, name: string): Promise<boolean> {
  const rows = await sql.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
  return rows.length > 0;
}

/**
 * Makes sure publication `name` exists. Returns whether it was created.
 * An existing publication is never altered; if it lacks a listed table the
 * error says how to add it.
 */
export async function ensurePublication(sql: SqlConnection, name: string, tables: QualifiedTable[]): Promise<boolean> {
  if (await publicationExists(sql, name)) {
    if (tables.length > 0) {
      const [pub] = await sql.query<{ puballtables: boolean }>('SELECT puballtables FROM pg_publication WHERE pubname = $1', [name]);
      if (!pub?.puballtables) {
        const rows = await sql.query<{ schemaname: string; tablename: string }>('SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1', [name]);
        const present = new Set(rows.map((r) => `${r.schemaname}.${r.tablename}`));
        const missing = tables.filter((t) => !present.has(`${t.schema}.${t.table}`));
        if (missing.length > 0) {
          throw new CdcError('PGCDC_PUBLICATION_MISSING', `publication "${name}" exists but does not include ${missing.map((t) => `${t.schema}.${t.table}`).join(', ')}; add with: ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${missing.map(formatTable).join(', ')}`);
        }
      }
    }
    return false;
  }
  for (const t of tables) {
    const rows = await sql.query('SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2', [t.schema, t.table]);
    if (rows.length === 0) throw new CdcError('PGCDC_TABLE_MISSING', `table ${t.schema}.${t.table} does not exist; check --tables`);
  }
  const target = tables.length > 0 ? `FOR TABLE ${tables.map(formatTable).join(', ')}` : 'FOR ALL TABLES';
  await sql.query(`CREATE PUBLICATION ${quoteIdent(name)} ${target}`);
  return true;
}
