/**
 * Where to connect: a URL argument, else DATABASE_URL, else the libpq PG*
 * variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE), which
 * node-postgres reads itself. TLS follows `sslmode` in the URL or PGSSLMODE;
 * SCRAM-SHA-256 and md5 are negotiated by node-postgres.
 */
import { readFileSync } from 'node:fs';
import type { ClientConfig } from 'pg';
import { CdcError } from '../core/errors.ts';

/**
 * Session settings for the replication connection. pgoutput prints values with
 * the walsender's settings, so these make the text we convert predictable:
 * ISO dates, UTC timestamps, ISO 8601 intervals, shortest exact floats, hex bytea.
 */
const REPLICATION_SESSION_OPTIONS = '-c datestyle=ISO,YMD -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex';

export interface ConnectionTarget {
  /** The URL as given, password removed: safe to print. */
  display: string;
  config: ClientConfig;
  /** Where the connection came from: said in a notice when the user did not name it. */
  origin: 'argument' | 'DATABASE_URL' | 'PG variables' | 'defaults';
  /**
   * libpq's multi-host form (`postgresql://h1:5432,h2:5432/db`): one target per
   * host, tried in order (connect-client.ts), the first that fits
   * `sessionAttrs` wins; every reconnect chooses again, so after a failover
   * pgcdc finds the new primary by itself.
   */
  hosts?: ConnectionTarget[];
  /** libpq's target_session_attrs: any (default), read-write or primary. */
  sessionAttrs?: SessionAttrs;
}

export type SessionAttrs = 'any' | 'read-write' | 'primary';

const LIBPQ_VARIABLES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD', 'PGSSLMODE', 'PGSERVICE'];

/** The libpq variables that are set, for notices and the config check. */
export function setLibpqVariables(env: NodeJS.ProcessEnv = process.env): string[] {
  return LIBPQ_VARIABLES.filter((name) => env[name] !== undefined && env[name] !== '');
}

/**
 * One line saying which server pgcdc connects to when the user did not name it
 * (no URL, no DATABASE_URL): never a silent fallback to localhost. Undefined
 * when the URL was given.
 */
export function connectionNotice(target: ConnectionTarget): string | undefined {
  switch (target.origin) {
    case 'argument': return undefined;
    case 'DATABASE_URL': return `connecting to ${target.display} (from DATABASE_URL)`;
    case 'PG variables': return `connecting to ${target.display} (no URL given: from ${setLibpqVariables().join(', ')}, the rest libpq's defaults)`;
    case 'defaults': return `connecting to ${target.display} (no URL given and neither DATABASE_URL nor PG* variables are set: libpq's defaults)`;
  }
}

export function resolveConnection(url: string | undefined, env: NodeJS.ProcessEnv = process.env): ConnectionTarget {
  const fromArgument = url !== undefined && url !== '';
  const chosen = fromArgument ? url : env.DATABASE_URL;
  if (chosen === undefined || chosen === '') {
    const host = env.PGHOST ?? 'localhost';
    const port = env.PGPORT ?? '5432';
    const database = env.PGDATABASE ?? env.PGUSER ?? 'postgres';
    const origin = setLibpqVariables(env).length > 0 ? 'PG variables' : 'defaults';
    return { display: `postgresql://${env.PGUSER ? `${env.PGUSER}@` : ''}${host}:${port}/${database}`, config: { ssl: sslFromEnvironment(env) }, origin };
  }
  if (!/^[a-z][a-z0-9+.-]*:/i.test(chosen) && /^\s*\w+\s*=/.test(chosen)) {
    return { ...keywordConnection(chosen), origin: fromArgument ? 'argument' : 'DATABASE_URL' };
  }
  const multiHost = multiHostTarget(chosen, fromArgument ? 'argument' : 'DATABASE_URL');
  if (multiHost !== undefined) return multiHost;
  let parsed: URL;
  try {
    // libpq takes `postgresql://user:pw@/db?host=/run/postgresql` (credentials, no
    // host: the socket comes from the query); WHATWG URLs refuse credentials
    // without a host, so a stand-in host goes in, and the query's host wins.
    parsed = new URL(/^postgres(?:ql)?:\/\/[^/@]*@\/.*[?&]host=/i.test(chosen) ? chosen.replace('@/', '@localhost/') : chosen);
  } catch {
    throw new CdcError('PGCDC_BAD_URL', `not a connection URL: ${redact(chosen)} (expected postgresql://user:password@host:port/database)`);
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new CdcError('PGCDC_BAD_URL', `unsupported URL scheme "${parsed.protocol}" in ${redact(chosen)}: use postgresql://user:password@host:port/database`);
  }
  if (parsed.port !== '' && !/^\d+$/.test(parsed.port)) {
    throw new CdcError('PGCDC_BAD_URL', `bad port in ${redact(chosen)}`);
  }
  return { display: redact(chosen), config: { connectionString: withLibpqSslSemantics(parsed) }, origin: fromArgument ? 'argument' : 'DATABASE_URL' };
}

/**
 * sslmode means what it means in libpq (psql, pg_recvlogical): `require`
 * encrypts without checking the certificate, `verify-ca` checks the chain,
 * `verify-full` also the host name. node-postgres treats require/verify-ca as
 * verify-full unless asked for libpq compatibility, so we ask.
 * See docs/decisions/0003-libpq-sslmode.md.
 */
function withLibpqSslSemantics(url: URL): string {
  if (url.searchParams.has('sslmode') && !url.searchParams.has('uselibpqcompat')) {
    url.searchParams.set('uselibpqcompat', 'true');
  }
  return url.toString();
}

/** PGSSLMODE / PGSSLROOTCERT with libpq semantics, for connections configured by PG* variables. */
function sslFromEnvironment(env: NodeJS.ProcessEnv): ClientConfig['ssl'] {
  const mode = env.PGSSLMODE;
  if (mode === undefined || mode === '' || mode === 'disable' || mode === 'allow') return false;
  const ca = env.PGSSLROOTCERT ? readFileSync(env.PGSSLROOTCERT, 'utf8') : undefined;
  switch (mode) {
    case 'prefer':
    case 'require':
      return ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false };
    case 'verify-ca':
      return { ...(ca ? { ca } : {}), checkServerIdentity: () => undefined };
    case 'verify-full':
      return ca ? { ca } : {};
    default:
      throw new CdcError('PGCDC_BAD_URL', `unknown PGSSLMODE "${mode}": use disable, require, verify-ca or verify-full`);
  }
}

/**
 * libpq's keyword/value form: `host=/run/postgresql port=5432 dbname=app
 * user=app password='it''s'` (values may be single-quoted, with \\ and \' escapes).
 * A host starting with `/` is a unix socket directory, as in libpq.
 */
function keywordConnection(text: string): Omit<ConnectionTarget, 'origin'> {
  const values = new Map<string, string>();
  const pattern = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/y;
  let at = 0;
  while (at < text.length && text.slice(at).trim() !== '') {
    pattern.lastIndex = at;
    const m = pattern.exec(text);
    if (!m) throw new CdcError('PGCDC_BAD_URL', `not a connection string: ${redactKeywords(text)} (expected postgresql://user:password@host:port/database or host=... dbname=...)`);
    values.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
    at = pattern.lastIndex;
  }
  const known = new Set(['host', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'application_name', 'options', 'connect_timeout']);
  for (const key of values.keys()) {
    if (!known.has(key)) throw new CdcError('PGCDC_BAD_URL', `unknown connection keyword "${key}" in ${redactKeywords(text)}; pgcdc takes ${[...known].join(', ')}`);
  }
  // Carried as a URL (host in the query for a socket directory, as libpq allows),
  // so sslmode and options follow the same path as the URL form.
  const url = new URL('postgresql://');
  const host = values.get('host');
  if (host !== undefined && host.startsWith('/')) url.searchParams.set('host', host);
  else if (host !== undefined) url.hostname = host;
  // A URL without a host name carries no port, user or password: with a socket
  // directory they go in the query, which node-postgres reads as well.
  for (const key of ['port', 'user', 'password']) {
    const value = values.get(key);
    if (value === undefined) continue;
    if (url.hostname === '') url.searchParams.set(key, value);
    else if (key === 'port') url.port = value;
    else if (key === 'user') url.username = encodeURIComponent(value);
    else url.password = encodeURIComponent(value);
  }
  url.pathname = `/${encodeURIComponent(values.get('dbname') ?? values.get('user') ?? 'postgres')}`;
  for (const key of ['sslmode', 'sslrootcert', 'application_name', 'options', 'connect_timeout']) {
    if (values.has(key)) url.searchParams.set(key, values.get(key)!);
  }
  return { display: redactKeywords(text), config: { connectionString: withLibpqSslSemantics(url) } };
}

function redactKeywords(text: string): string {
  return text.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)/i, '$1***');
}

/** Removes the password from a URL for logs and errors. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@/]*@/, '$1***@').replace(/([?&]password=)[^&]*/i, '$1***');
}

/** The configuration for a replication connection (walsender in database mode). */
export function replicationConfig(target: ConnectionTarget): ClientConfig & { replication: string } {
  const userOptions = optionsFrom(target);
  return {
    ...target.config,
    replication: 'database',
    options: userOptions ? `${REPLICATION_SESSION_OPTIONS} ${userOptions}` : REPLICATION_SESSION_OPTIONS,
    application_name: 'pgcdc',
    connectionTimeoutMillis: 15_000,
  };
}

/** The configuration for an ordinary SQL connection (catalog queries, slot admin). */
export function sqlConfig(target: ConnectionTarget): ClientConfig {
  // Snapshot rows are read here and must print as the stream's do (whatever the
  // server's or the role's DateStyle, IntervalStyle, TimeZone, bytea_output):
  // pgcdc's settings come last, so they win over the user's.
  const userOptions = optionsFrom(target);
  return {
    ...target.config,
    options: userOptions ? `${userOptions} ${REPLICATION_SESSION_OPTIONS}` : REPLICATION_SESSION_OPTIONS,
    application_name: 'pgcdc',
    connectionTimeoutMillis: 15_000,
  };
}

function optionsFrom(target: ConnectionTarget): string | undefined {
  if (target.config.connectionString === undefined) return process.env.PGOPTIONS;
  try {
    return new URL(target.config.connectionString).searchParams.get('options') ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * `postgresql://user:pw@h1:5432,h2:5433/db?target_session_attrs=read-write`: a
 * target per host (the WHATWG URL parser takes only one). Undefined for a
 * single-host URL.
 */
function multiHostTarget(text: string, origin: ConnectionTarget['origin']): ConnectionTarget | undefined {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*,[^/?#]*)(.*)$/i.exec(text);
  if (m === null) return undefined;
  const [, scheme, userinfo = '', hostList, rest = ''] = m as unknown as [string, string, string | undefined, string, string | undefined];
  let sessionAttrs: SessionAttrs = 'any';
  const restUrl = new URL(`postgresql://placeholder${rest}`);
  const attrs = restUrl.searchParams.get('target_session_attrs');
  if (attrs !== null) {
    if (attrs !== 'any' && attrs !== 'read-write' && attrs !== 'primary') {
      throw new CdcError('PGCDC_BAD_URL', `target_session_attrs=${attrs} is not supported in ${redact(text)}: use any, read-write or primary`);
    }
    sessionAttrs = attrs;
    restUrl.searchParams.delete('target_session_attrs');
  }
  const tail = `${restUrl.pathname}${restUrl.search}`;
  const hosts = hostList.split(',').map((host) => {
    if (host === '') throw new CdcError('PGCDC_BAD_URL', `an empty host in ${redact(text)}`);
    return resolveConnection(`${scheme}${userinfo}${host}${tail}`);
  });
  return { display: redact(text), config: hosts[0]!.config, origin, hosts: hosts.map((h) => ({ ...h, origin })), sessionAttrs };
}

