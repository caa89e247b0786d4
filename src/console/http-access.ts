/**
 * Who may use pgcdc's HTTP port (console, /metrics, /healthz, /readyz).
 *
 * - Bound to loopback (127.0.0.1, ::1, localhost), it answers local requests
 *   without a token, like the metrics port always did; but only those whose
 *   Host header names loopback, so a web page cannot reach it through DNS
 *   rebinding (a hostile name resolved to 127.0.0.1).
 * - Bound anywhere else, every request must carry the token (`metrics.token`
 *   or PGCDC_CONSOLE_TOKEN): `Authorization: Bearer …` (Prometheus, curl), or
 *   the cookie the console sets when opened once as `/?token=…`. Without a
 *   token configured, pgcdc refuses to start rather than serve an open port.
 * - Actions are POSTs and need the CSRF header: a value only a same-origin page
 *   can read (from /api/overview, which sends no CORS headers), and an Origin,
 *   when the browser sends one, naming this very host. A cross-site form or
 *   fetch can set neither.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CdcError } from '../core/errors.ts';

export const TOKEN_COOKIE = 'pgcdc_token';
export const CSRF_HEADER = 'x-pgcdc-csrf';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

export interface Refusal { status: number; message: string }

export class HttpAccess {
  readonly csrfToken = randomBytes(24).toString('base64url');
  private readonly token: Buffer | undefined;
  private readonly loopback: boolean;

  constructor(host: string, token: string | undefined) {
    this.loopback = LOOPBACK_HOSTS.has(host);
    if (!this.loopback && (token === undefined || token === '')) {
      throw new CdcError('PGCDC_BAD_ARGUMENT', `the HTTP port is bound to ${host}, not 127.0.0.1: set metrics.token (or PGCDC_CONSOLE_TOKEN) so that every request must carry it, or bind metrics.host to 127.0.0.1`);
    }
    // The config's rule (schema.ts), also for PGCDC_CONSOLE_TOKEN.
    if (token !== undefined && token !== '' && token.length < 16) throw new CdcError('PGCDC_BAD_ARGUMENT', 'the console token (metrics.token or PGCDC_CONSOLE_TOKEN) must have at least 16 characters (e.g. openssl rand -hex 16)');
    this.token = token ? Buffer.from(token) : undefined;
  }

  /** Undefined when the request may go on. */
  check(request: IncomingMessage): Refusal | undefined {
    if (this.token === undefined) {
      const host = hostName(request.headers.host);
      if (host === undefined || !LOOPBACK_HOSTS.has(host)) return { status: 403, message: 'this port answers only requests addressed to 127.0.0.1 or localhost' };
    } else if (!this.carriesToken(request)) {
      return { status: 401, message: 'a token is required: Authorization: Bearer <token>, or open /?token=<token> once in the browser' };
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (!this.same(request.headers[CSRF_HEADER], this.csrfToken)) return { status: 403, message: `actions need the ${CSRF_HEADER} header of the console page` };
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== `http://${request.headers.host}` && origin !== `https://${request.headers.host}`) return { status: 403, message: 'cross-site request refused' };
    }
    return undefined;
  }

  /** Whether `candidate` is the configured token (to set the cookie from `/?token=`). */
  isToken(candidate: string): boolean {
    return this.token !== undefined && this.same(candidate, this.token.toString());
  }

  private carriesToken(request: IncomingMessage): boolean {
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return this.isToken(bearer);
    const cookie = (request.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${TOKEN_COOKIE}=`));
    return cookie !== undefined && this.isToken(decodeURIComponent(cookie.slice(TOKEN_COOKIE.length + 1)));
  }

  private same(candidate: string | string[] | undefined, expected: string): boolean {
    if (typeof candidate !== 'string') return false;
    const a = Buffer.from(candidate);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

/** `127.0.0.1:9464` → 127.0.0.1; `[::1]:9464` → ::1. */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (bracketed) return bracketed[1];
  return header.replace(/:\d+$/, '').toLowerCase();
}
