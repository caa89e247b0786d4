/**
 * What the PostgreSQL sink's two modes (audit table, mirror) share: the
 * connection to the target database, and how its errors are told apart.
 */
import pg from 'pg';
import { quoteIdent } from '../core/sql-text.ts';
import { isRetriableSqlState } from '../core/sqlstate.ts';
import { SinkError } from './sink.ts';

/** `schema.table` (schema `public` when none is named), each part quoted. */
export function qualifiedTable(name: string): string {
  const [schema, table] = name.includes('.') ? name.split('.', 2) as [string, string] : ['public', name];
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * The sink's connection to its database, opened when first needed. A write
 * that fails because the connection is gone (`connectionLost`) drops it, so
 * the pipeline's retry opens a new one rather than failing on the dead one
 * forever (an administrator ended the session, the server restarted, failed over).
 */
export class SinkConnection {
  private readonly url: string;
  private client: pg.Client | undefined;

  constructor(url: string) {
    this.url = url;
  }

  async get(): Promise<pg.Client> {
    return this.client ??= await connectSinkClient(this.url);
  }

  /** The sink error to throw for `error`, the connection dropped first if it is gone. */
  failed(error: unknown, what = 'PostgreSQL sink'): SinkError {
    if (connectionLost(error)) {
      void this.client?.end().catch(() => undefined);
      this.client = undefined;
    }
    return sqlSinkError(error, what);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** A client of the sink database, connected; an unreachable database is a retriable sink error. */
async function connectSinkClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgcdc-sink' });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new SinkError(`cannot reach the sink database: ${(error as Error).message}; check sink.url`, { retriable: true, cause: error });
  }
  return client;
}

/**
 * A sink database error, with what to do. Connection trouble and conflicts are
 * retried; a missing privilege, table or column is a configuration error: the
 * pipeline stops and nothing is dead-lettered (every later write would fail too).
 */
function sqlSinkError(error: unknown, what: string): SinkError {
  const code = (error as { code?: string }).code ?? '';
  // A code that is no SQLSTATE (ECONNRESET, EPIPE) is the socket's: the link broke.
  const retriable = !isSqlState(code) || isRetriableSqlState(code);
  const advice = retriable ? ''
    : code === '42501' ? "; the sink's role lacks a privilege: GRANT it what the message names (INSERT, UPDATE, DELETE on the target tables, CREATE on the schema for the audit table); nothing was dead-lettered"
    : code.startsWith('42') ? '; create the target table with matching columns and primary key; nothing was dead-lettered'
    : '';
  return new SinkError(`${what}: ${(error as Error).message}${advice}`, { retriable, cause: error });
}

/** Errors about one event's data (class 22 data exception, 23 integrity violation): dead letters, not a stop. */
export function isDataProblem(error: unknown): boolean {
  return /^2[23]/.test((error as { code?: string }).code ?? '');
}

/** The reason a dead letter carries when the database refused its row. */
export function refusalReason(error: unknown): string {
  return `PostgreSQL refused it: ${(error as Error).message} (SQLSTATE ${(error as { code?: string }).code})`;
}

/** Whether `code` is a SQLSTATE (five digits or capitals), not a socket's error code. */
function isSqlState(code: string | undefined): code is string {
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code);
}

/** Whether the connection an error came from is gone: the socket failed, or the server ended the session (class 08, 57). */
function connectionLost(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return !isSqlState(code) || /^(08|57)/.test(code);
}
