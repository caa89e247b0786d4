/**
 * Publications: which tables pgoutput sends. Created when missing (for the
 * listed tables, or every table with a replica identity), reused as they are
 * when present.
 */
import { CdcError } from '../core/errors.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { SqlConnection } from './sql-connection.ts';
import { identityFix, publishedWithoutIdentity, userTables } from './replica-identity.ts';

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

/** What ensurePublication did, for the notices it calls for. */
export interface PublicationOutcome {
  created: boolean;
  /** The tables a publication created now holds. */
  tables: QualifiedTable[];
  /** Created without --tables: the tables left out because they have no replica identity. */
  leftOut: QualifiedTable[];
  /** An existing publication: tables whose updates or deletes it publishes without a replica identity (already failing the application's writes). */
  unsafe: QualifiedTable[];
  /** The companion publication of inserts and truncates of the keyless tables, when there is one (`keylessPublicationName`). */
  companion: string | undefined;
}

/**
 * The companion of a publication pgcdc created without a table list: the tables
 * that have no replica identity, published for inserts and truncates only, which
 * never fail a write (docs/decisions/0009).
 */
export function keylessPublicationName(name: string): string {
  return `${name.slice(0, 55)}_keyless`;
}

/**
 * Makes sure publication `name` exists, and that pgcdc never creates one that
 * would fail the application's writes (replica-identity.ts):
 * - listed tables (`--tables`): created FOR TABLE those; a listed table without a
 *   replica identity is refused (PGCDC_REPLICA_IDENTITY) before anything is created;
 * - no list: created FOR TABLE every table that has a replica identity now; the
 *   others go to a companion publication of inserts and truncates only, and are
 *   named (FOR ALL TABLES would also take in, and break, every keyless table
 *   created later);
 * - an existing publication is used as it is, never altered: a listed table it
 *   lacks is an error with the ALTER PUBLICATION to run, and tables it already
 *   publishes without a replica identity are reported.
 */
export async function ensurePublication(sql: SqlConnection, name: string, tables: QualifiedTable[]): Promise<PublicationOutcome> {
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
    const companion = keylessPublicationName(name);
    return { created: false, tables: [], leftOut: [], unsafe: await publishedWithoutIdentity(sql, name), companion: await publicationExists(sql, companion) ? companion : undefined };
  }
  const all = await userTables(sql);
  const known = new Map(all.map((t) => [`${t.schema}.${t.table}`, t]));
  for (const t of tables) {
    if (!known.has(`${t.schema}.${t.table}`)) throw new CdcError('PGCDC_TABLE_MISSING', `table ${t.schema}.${t.table} does not exist; check --tables`);
  }
  if (tables.length > 0) {
    const keyless = tables.filter((t) => !known.get(`${t.schema}.${t.table}`)!.hasIdentity);
    if (keyless.length > 0) {
      throw new CdcError('PGCDC_REPLICA_IDENTITY', `${keyless.map((t) => `${t.schema}.${t.table}`).join(', ')} ${keyless.length === 1 ? 'has' : 'have'} no primary key or replica identity: publishing ${keyless.length === 1 ? 'its' : 'their'} updates and deletes would make the application's UPDATE and DELETE fail; run ${keyless.map(identityFix).join('; ')}, or leave ${keyless.length === 1 ? 'it' : 'them'} out of --tables`);
    }
  }
  const chosen = tables.length > 0 ? tables : all.filter((t) => t.hasIdentity).map(({ schema, table }) => ({ schema, table }));
  const leftOut = tables.length > 0 ? [] : all.filter((t) => !t.hasIdentity).map(({ schema, table }) => ({ schema, table }));
  const statements = [`CREATE PUBLICATION ${quoteIdent(name)}${chosen.length > 0 ? ` FOR TABLE ${chosen.map(formatTable).join(', ')}` : ''}`];
  let companion: string | undefined;
  if (leftOut.length > 0) {
    // An insert never needs a replica identity: the keyless tables' inserts and
    // truncates are published too, their updates and deletes cannot be.
    companion = keylessPublicationName(name);
    // One already there is used as it is, like any existing publication.
    if (!await publicationExists(sql, companion)) statements.push(`CREATE PUBLICATION ${quoteIdent(companion)} FOR TABLE ${leftOut.map(formatTable).join(', ')} WITH (publish = 'insert, truncate')`);
  }
  // One transaction: a kill between the two must not leave the main publication
  // (which later starts take as the sign that all is in place) without its companion.
  await sql.query(`BEGIN; ${statements.join('; ')}; COMMIT`);
  return { created: true, tables: chosen, leftOut, unsafe: [], companion };
}
