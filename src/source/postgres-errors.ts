/**
 * Turns errors from Postgres and the network into one-line `CdcError`s that say
 * what to do. Classified by SQLSTATE and errno codes, never by message text
 * (messages are translated and change between versions).
 */
import { CdcError, isCdcError } from '../core/errors.ts';
import { isRetriableSqlState } from '../core/sqlstate.ts';
import { slotLostError } from './slots.ts';

interface ErrorLike {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
}

export interface ErrorContext {
  /** Where we tried to connect (password removed). */
  target?: string;
  slot?: string;
  publication?: string;
  user?: string;
}

export function classifyPostgresError(error: unknown, context: ErrorContext = {}): CdcError {
  if (isCdcError(error)) return error;
  const e = (error ?? {}) as ErrorLike;
  const where = context.target ? ` (${context.target})` : '';
  const text = e.message ?? String(error);
  switch (e.code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new CdcError('PGCDC_TLS', `the server's TLS certificate is not trusted${where}: ${text}; pass its CA with sslrootcert=FILE, or use sslmode=require to encrypt without verifying`, { cause: error });
    case 'ENOENT': {
      // A unix socket that is not there: host names a directory (libpq's form).
      const socket = /connect ENOENT (\S+)/.exec(text)?.[1];
      return new CdcError('PGCDC_UNREACHABLE', `no PostgreSQL socket at ${socket ?? 'the socket path'}${where}; check host (the socket's directory) and port, and that the server is running`, { cause: error, retriable: true });
    }
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
    case 'ECONNRESET':
      return new CdcError('PGCDC_UNREACHABLE', `cannot reach PostgreSQL${where}: ${e.code}; check host and port, and that the server is running and accepts TCP connections`, { cause: error, retriable: true });
    case '28P01':
      return new CdcError('PGCDC_AUTH_FAILED', `password authentication failed${context.user ? ` for user "${context.user}"` : ''}${where}; check the password in the URL or PGPASSWORD`, { cause: error });
    case '28000':
      return new CdcError('PGCDC_AUTH_FAILED', `connection rejected${where}: ${text}; add a matching entry to pg_hba.conf (replication connections need one too)`, { cause: error });
    case '3D000':
      return new CdcError('PGCDC_DATABASE_MISSING', `${text}${where}; check the database name in the URL or PGDATABASE`, { cause: error });
    case '42501': {
      // PostgreSQL's 2026 minor releases (15.20, ...) let REPLICATION roles use
      // only the output plugins listed in output_plugin_libraries (pgoutput and
      // test_decoding by default): wal2json must be listed by an administrator.
      const plugin = /library "([^"]+)" may not be used as an output plugin/.exec(text)?.[1];
      if (plugin !== undefined) {
        return new CdcError('PGCDC_PLUGIN_NOT_ALLOWED', `${text}; allow it as a superuser: ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding, ${plugin}'; SELECT pg_reload_conf(); or use --plugin pgoutput`, { cause: error });
      }
      return new CdcError('PGCDC_NO_REPLICATION_PRIVILEGE', `${text}; grant it with: ALTER ROLE ${context.user ?? '<user>'} WITH REPLICATION`, { cause: error });
    }
    case '55006':
      return new CdcError('PGCDC_SLOT_IN_USE', `${text}; another consumer is streaming from slot "${context.slot ?? '?'}": stop it, or use another --slot`, { cause: error, retriable: true });
    case '53400':
      return new CdcError('PGCDC_SLOT_LIMIT', `${text}; drop unused slots (pgcdc slot list / drop) or raise max_replication_slots / max_wal_senders`, { cause: error });
    case '42710':
      return new CdcError('PGCDC_SLOT_EXISTS', `${text}; pgcdc never replaces an existing slot: use it, or pick another --slot`, { cause: error });
    case '42704':
      if (context.publication && text.includes(context.publication)) {
        return new CdcError('PGCDC_PUBLICATION_MISSING', `${text}; create it (CREATE PUBLICATION ${context.publication} FOR TABLE ...) or let pgcdc create it by passing --tables`, { cause: error });
      }
      if (context.slot && text.includes(context.slot)) {
        return new CdcError('PGCDC_SLOT_MISSING', `${text}; create it with: pgcdc slot create --slot ${context.slot}`, { cause: error });
      }
      return new CdcError('PGCDC_POSTGRES', text, { cause: error });
    case '57P01':
    case '57P02':
    case '57P03':
      return new CdcError('PGCDC_REPLICATION_ENDED', `the server ended the connection (${text}): an administrator, a shutdown, or an invalidated slot; start pgcdc again and it resumes from the slot's position (pgcdc slot list shows a slot whose wal_status is lost)`, { cause: error, retriable: true });
    case '55000':
      if (/wal_level/.test(text)) return walLevelError();
      // The slot was invalidated while in use, or between its check and START_REPLICATION.
      if (/can no longer get changes from replication slot|has been invalidated|replication slot .* (is|was) invalidated/i.test(text)) return slotLostError(context.slot ?? '?', undefined, error);
      return new CdcError('PGCDC_POSTGRES', `${text}${e.hint ? `; ${e.hint}` : ''}`, { cause: error });
    default:
      if (/does not support SSL/i.test(text)) {
        return new CdcError('PGCDC_TLS', `the server does not accept TLS${where}; enable ssl on the server or use sslmode=disable`, { cause: error });
      }
      if (e.code === undefined && /password/i.test(text) && /SASL|SCRAM|client password must be a string/i.test(text)) {
        return new CdcError('PGCDC_AUTH_FAILED', `the server asks for a password${where}; put it in the URL or PGPASSWORD`, { cause: error });
      }
      if (/timeout/i.test(text) && e.code === undefined) {
        return new CdcError('PGCDC_UNREACHABLE', `timed out connecting to PostgreSQL${where}; check host, port and firewalls`, { cause: error, retriable: true });
      }
      return new CdcError('PGCDC_POSTGRES', `PostgreSQL error${e.code ? ` ${e.code}` : ''}: ${text}${e.hint ? `; ${e.hint}` : ''}`, { cause: error, retriable: isRetriableSqlState(e.code) });
  }
}

export function walLevelError(current?: string): CdcError {
  return new CdcError(
    'PGCDC_WAL_LEVEL',
    `logical decoding needs wal_level=logical${current ? ` (the server has ${current})` : ''}: run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL`,
  );
}
