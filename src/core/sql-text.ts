/**
 * Quoting for SQL text pgcdc builds itself (replication commands, catalog
 * queries, the PostgreSQL sink's statements). Used by source, snapshot and sink
 * alike, so it lives in core: a sink must not reach into the replication code.
 */

/** An identifier, always quoted: `"Order Items"`, `"a""b"`. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal with standard_conforming_strings (the default since 9.1). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
