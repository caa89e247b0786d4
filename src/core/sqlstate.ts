/**
 * The one table of which PostgreSQL errors are worth trying again, by SQLSTATE,
 * for every connection pgcdc makes (replication source, snapshots, the
 * PostgreSQL sink). Retrying the others repeats the same failure forever: those
 * stop the pipeline (or skip one table) with a line that says what to fix.
 */

/** Classes (first two characters) whose errors pass: the connection, the transaction, the operator. */
const RETRIABLE_CLASSES = new Set([
  '08', // connection exception: the link broke or could not be made
  '40', // transaction rollback: serialization failure, deadlock
  '57', // operator intervention: shutdown, crash recovery, query canceled
]);

/** Single codes whose errors pass. */
const RETRIABLE_CODES = new Set([
  '53300', // too_many_connections
  '55006', // object_in_use (a slot another walsender still holds)
  '55P03', // lock_not_available
]);

/**
 * Whether trying again later may succeed. No SQLSTATE at all means the error did
 * not come from the server (a socket error, a timeout): retriable too.
 */
export function isRetriableSqlState(code: string | undefined): boolean {
  if (code === undefined || code === '') return true;
  return RETRIABLE_CLASSES.has(code.slice(0, 2)) || RETRIABLE_CODES.has(code);
}

/** Errors about the statement itself (syntax, a missing column, bad data, a read-only transaction), not the connection. */
export function isStatementProblem(code: string | undefined): boolean {
  return code !== undefined && /^(42|22|25)/.test(code);
}
