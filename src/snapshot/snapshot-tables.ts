/**
 * Which tables a snapshot reads, and how: the publication's tables (or the ones
 * named), each with the columns pgoutput would send (no generated columns; the
 * publication's column list on PostgreSQL 15+), its row filter, and the key that
 * orders its chunks: the primary key, or columns the user names.
 */
import type { ColumnType } from '../core/change-types.ts';
import { CdcError } from '../core/errors.ts';
import type { JsonObject } from '../core/json.ts';
import type { ValueConverter } from '../decode/values/convert.ts';
import { formatTable, parseTableName, type QualifiedTable } from '../source/publications.ts';
import { quoteIdent } from '../core/sql-text.ts';
import type { SqlConnection } from '../source/sql-connection.ts';

export interface SnapshotTable extends QualifiedTable {
  /** `"schema"."table"`, quoted for SQL. */
  sql: string;
  columns: string[];
  /** Columns ordering the chunks (a unique key), with their SQL types for the keyset parameters. */
  key: Array<{ name: string; type: string }>;
  /** The publication's row filter (PostgreSQL 15+), as SQL. */
  rowFilter: string | undefined;
  /** pg_class.reltuples: the planner's estimate, for progress and ETA. */
  estimatedRows: number;
  /**
   * The table has no key: chunks follow the row position (ctid) inside the
   * snapshot's transaction, and rows carry no key (as their streamed changes do).
   */
  byPosition: boolean;
}

export interface SnapshotTableOptions {
  publication: string;
  /** Tables to read instead of the publication's ("schema.table"). */
  tables?: string[];
  /** Key columns for tables without a primary key: { "public.events": ["id"] }. */
  keys?: Record<string, string[]>;
  serverVersionNum: number;
  /** A table without a key is read by row position (initial snapshots); otherwise it is an error naming snapshot.keys. */
  keylessByPosition?: boolean;
}

export async function snapshotTables(sql: SqlConnection, options: SnapshotTableOptions): Promise<SnapshotTable[]> {
  const v15 = options.serverVersionNum >= 150000;
  const published = await sql.query<{ schema: string; table: string; attnames: string[] | null; rowfilter: string | null }>(
    `SELECT schemaname AS schema, tablename AS table, ${v15 ? 'attnames, rowfilter' : 'NULL::text[] AS attnames, NULL::text AS rowfilter'}
       FROM pg_publication_tables WHERE pubname = $1 ORDER BY schemaname, tablename`, [options.publication]);
  const wanted = options.tables?.length ? options.tables.map(parseTableName) : published.map((p) => ({ schema: p.schema, table: p.table }));
  const keys = new Map(Object.entries(options.keys ?? {}).map(([name, columns]) => {
    const t = parseTableName(name);
    return [`${t.schema}.${t.table}`, columns];
  }));
  const result: SnapshotTable[] = [];
  for (const t of wanted) {
    const name = `${t.schema}.${t.table}`;
    const pub = published.find((p) => p.schema === t.schema && p.table === t.table);
    if (options.tables?.length && pub === undefined && published.length > 0) {
      throw new CdcError('PGCDC_SNAPSHOT', `table ${name} is not in publication "${options.publication}": its changes would not be streamed; add it to the publication first`);
    }
    const columns = await sql.query<{ name: string; type: string; key_position: number | null }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
              array_position(i.indkey::int2[], a.attnum) AS key_position
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum`, [t.schema, t.table]);
    if (columns.length === 0) throw new CdcError('PGCDC_SNAPSHOT', `table ${name} does not exist`);
    const published15 = pub?.attnames;
    const visible = published15 ? columns.filter((c) => published15.includes(c.name)) : columns;
    const named = keys.get(name);
    let key: Array<{ name: string; type: string }>;
    let byPosition = false;
    if (named !== undefined) {
      key = named.map((k) => {
        const column = columns.find((c) => c.name === k);
        if (column === undefined) throw new CdcError('PGCDC_SNAPSHOT', `snapshot key column "${k}" does not exist in ${name}`);
        return { name: column.name, type: column.type };
      });
    } else {
      key = columns.filter((c) => c.key_position !== null).sort((a, b) => a.key_position! - b.key_position!).map((c) => ({ name: c.name, type: c.type }));
      if (key.length === 0 && options.keylessByPosition) {
        // ctid is stable inside one transaction's snapshot, and ordered: keyset chunks by it read each row once.
        key = [{ name: 'ctid', type: 'tid' }];
        byPosition = true;
      } else if (key.length === 0) {
        throw new CdcError('PGCDC_SNAPSHOT', `table ${name} has no primary key, so it cannot be read in chunks; add one, or name unique key columns: snapshot.keys: { "${name}": [column, ...] }`);
      }
    }
    const [estimate] = await sql.query<{ n: number }>(`SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = $1::regclass`, [formatTable(t)]);
    result.push({
      ...t,
      sql: formatTable(t),
      columns: visible.map((c) => c.name),
      key,
      rowFilter: pub?.rowfilter ?? undefined,
      estimatedRows: Math.round(estimate?.n ?? 0),
      byPosition,
    });
  }
  return result;
}

/**
 * The next chunk after `after` (the last key read, as text), in key order:
 * keyset pagination, so every chunk is an index range scan however deep into
 * the table it is, and memory holds one chunk.
 */
export function chunkQuery(
  table: SnapshotTable, after: Array<string | null> | undefined, limit: number, extraWhere?: string, upTo?: Array<string | null>,
): { text: string; values: unknown[] } {
  const columns = table.columns.map(quoteIdent).join(', ');
  const keyList = table.key.map((k) => quoteIdent(k.name)).join(', ');
  const conditions: string[] = [];
  const values: unknown[] = [];
  if (table.rowFilter) conditions.push(`(${table.rowFilter})`);
  if (extraWhere) conditions.push(`(${extraWhere})`);
  if (after !== undefined) {
    const params = table.key.map((k, i) => { values.push(after[i]); return `$${values.length}::${k.type}`; });
    conditions.push(`(${keyList}) > (${params.join(', ')})`);
  }
  if (upTo !== undefined) {
    // The end of a key range (snapshot/key-ranges.ts), inclusive.
    const params = table.key.map((k, i) => { values.push(upTo[i]); return `$${values.length}::${k.type}`; });
    conditions.push(`(${keyList}) <= (${params.join(', ')})`);
  }
  values.push(limit);
  return {
    text: `SELECT ${columns} FROM ${table.sql}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY ${keyList} LIMIT $${values.length}`,
    values,
  };
}

export interface KeysetChunk {
  /**
   * The rows as the server wrote them (text): the published columns, then any
   * key columns the column list leaves out. Converted one at a time by
   * `convert`, when its event is built: text is a fraction of the size of
   * converted values and events, and what is converted just before it is
   * serialized is still in the CPU's caches (docs/benchmarks.md).
   */
  texts: Array<Array<string | null>>;
  /** Row `index` (the published columns) with its key (the key columns), converted as streamed rows are. */
  convert(index: number): { row: JsonObject; key: JsonObject };
  /** Only row `index`'s key (the key columns), converted. */
  convertKey(index: number): JsonObject;
  /** The published columns with their types, as the query described them. */
  columns: ColumnType[];
  /** Key of the chunk's last row (text), where the next chunk starts; `after` again when empty. */
  lastKey: Array<string | null>;
  /** Nothing after this chunk in the table (or key range): known from the chunk's own read. */
  tableDone: boolean;
}

/** Reads the chunk after `after` (up to `upTo`, inclusive), as text to convert with the stream's converters (one chunk in memory). */
export async function readKeysetChunk(
  sql: SqlConnection, table: SnapshotTable, after: Array<string | null> | undefined, limit: number, where: string | undefined, converter: ValueConverter,
  upTo?: Array<string | null>,
): Promise<KeysetChunk> {
  // Key columns are read even when the publication's column list leaves them out.
  const extraKeys = table.key.filter((k) => !table.columns.includes(k.name)).map((k) => k.name);
  // One row more than the chunk: whether anything follows is known now, not
  // from another read, so a reader hands each chunk on as soon as it is read
  // (initial-snapshot.ts) and a table ending on a chunk boundary needs no empty read.
  const query = chunkQuery({ ...table, columns: [...table.columns, ...extraKeys] }, after, limit + 1, where, upTo);
  const result = await sql.queryText(query.text, query.values);
  const more = result.rows.length > limit;
  if (more) result.rows.length = limit;
  const visible = table.columns.length;
  const converters = result.columns.map((c) => converter.converterFor(c.typeOid));
  const names = result.columns.map((c) => c.name);
  const keyIndexes = table.key.map((k) => names.indexOf(k.name));
  const keyNames = table.key.map((k) => k.name);
  const texts = result.rows;
  const convertAt = (values: Array<string | null>, i: number) => {
    const text = values[i];
    return text === null || text === undefined ? null : converters[i]!(text);
  };
  const keyOf = (values: Array<string | null>) => {
    const key: JsonObject = {};
    for (let k = 0; k < keyIndexes.length; k++) key[keyNames[k]!] = convertAt(values, keyIndexes[k]!);
    return key;
  };
  const last = texts[texts.length - 1];
  return {
    texts,
    convert(index) {
      const values = texts[index]!;
      const row: JsonObject = {};
      for (let i = 0; i < visible; i++) row[names[i]!] = convertAt(values, i);
      return { row, key: keyOf(values) };
    },
    convertKey: (index) => keyOf(texts[index]!),
    columns: result.columns.slice(0, visible),
    lastKey: last === undefined ? after ?? [] : keyIndexes.map((i) => last[i] ?? null),
    tableDone: !more,
  };
}
