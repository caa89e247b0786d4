/**
 * pgcdc run's HTTP port: /metrics (all pipelines), /healthz (process up),
 * /readyz (every pipeline streaming, none degraded), and the console at `/`
 * with its JSON API under /api (docs/console.md). Access rules: http-access.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extname, join } from 'node:path';
import type { Registry } from 'prom-client';
import { mergedMetrics } from '../observe/merge-metrics.ts';
import { CdcError } from '../core/errors.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { LiveTail } from '../observe/live-tail.ts';
import { HttpAccess, TOKEN_COOKIE } from './http-access.ts';
import { PipelineHistory } from './pipeline-history.ts';
import { Redaction } from './redaction.ts';
import {
  ApiError, deadLetters, describe, discardDeadLetters, overview, retryDeadLetters, serveTail, slots,
  snapshotAction, snapshots, statusOf, tailFilter, type ConsoleContext,
} from './console-api.ts';

export interface HttpPortOptions {
  host: string;
  port: number;
  /** Required when `host` is not loopback (http-access.ts). */
  token: string | undefined;
  /** Serve the console at `/` (default true); false leaves only /metrics, /healthz, /readyz. */
  console: boolean;
  /** The loaded config: its secret values are never shown (redaction.ts). */
  config: unknown;
}

export interface HttpPort {
  server: Server;
  close(): void;
}

/**
 * Where the built console is: console/dist at the package root, two levels up
 * from this file both as src/console/*.ts and as dist/console/*.js.
 */
const ASSETS_DIR = fileURLToPath(new URL('../../console/dist/', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' };
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export async function serveHttpPort(pipelines: readonly Pipeline[], options: HttpPortOptions): Promise<HttpPort> {
  const access = new HttpAccess(options.host, options.token);
  const tail = new LiveTail();
  const history = new PipelineHistory(pipelines);
  const ctx: ConsoleContext = {
    pipelines, history, tail, csrfToken: access.csrfToken, lastErrors: new Map(),
    redaction: new Redaction(options.config, options.token ? [options.token] : []),
  };
  if (options.console) {
    for (const p of pipelines) {
      p.tail = tail;
      const remember = (error: Error) => ctx.lastErrors.set(p.name, { message: ctx.redaction.text(error.message), code: (error as { code?: string }).code, at: new Date().toISOString() });
      p.on('retry', ({ error }) => remember(error));
      p.on('error', remember);
    }
    history.start();
  }
  const assets = options.console && existsSync(ASSETS_DIR) ? new Set(readdirSync(ASSETS_DIR)) : new Set<string>();

  const server = createServer((request, response) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    const url = new URL(request.url ?? '/', 'http://pgcdc.invalid');
    // Opening /?token=… once sets the cookie the page's own requests carry, and drops the token from the address bar.
    const offered = url.searchParams.get('token');
    if (request.method === 'GET' && url.pathname === '/' && offered !== null && access.isToken(offered)) {
      response.writeHead(303, { location: '/', 'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(offered)}; HttpOnly; SameSite=Strict; Path=/` });
      response.end();
      return;
    }
    const refusal = access.check(request);
    if (refusal !== undefined) return text(response, refusal.status, `${refusal.message}\n`);
    route(request, response, url).catch((error: unknown) => {
      if (!response.headersSent) json(response, statusOf(error), { error: ctx.redaction.text(describe(error)) });
      else response.end();
    });
  });

  async function route(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = request.method ?? 'GET';
    if (path === '/healthz') return text(response, 200, 'ok\n');
    if (path === '/readyz') {
      const ready = pipelines.every((p) => p.health === 'running');
      return text(response, ready ? 200 : 503, `${pipelines.map((p) => `${p.name} ${p.health}`).join('\n')}\n`);
    }
    if (path === '/metrics') {
      const registries = pipelines.map((p) => p.metrics?.registry).filter((r): r is Registry => r !== undefined);
      const body = await mergedMetrics(registries);
      response.writeHead(200, { 'content-type': registries[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8' });
      response.end(body);
      return;
    }
    if (!options.console) return text(response, 404, 'not found (the console is off: metrics.console is false)\n');
    if (method === 'GET' && (path === '/' || path.startsWith('/assets/'))) {
      const file = path === '/' ? 'index.html' : path.slice('/assets/'.length);
      if (!assets.has(file)) {
        return path === '/' ? text(response, 503, "the console's assets are not built here: run `npm run build:console` in pgcdc's folder\n") : text(response, 404, 'not found\n');
      }
      response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': file === 'index.html' ? 'no-store' : 'max-age=3600' });
      response.end(readFileSync(join(ASSETS_DIR, file)));
      return;
    }
    if (method === 'GET') {
      switch (path) {
        case '/api/overview': return json(response, 200, overview(ctx));
        case '/api/tail': return serveTail(ctx, request, response, tailFilter(url));
        case '/api/dead-letters': return json(response, 200, await deadLetters(ctx));
        case '/api/snapshots': return json(response, 200, snapshots(ctx));
        case '/api/slots': return json(response, 200, await slots(ctx));
      }
    }
    if (method === 'POST') {
      const body = await readJson(request);
      switch (path) {
        case '/api/dead-letters/retry': {
          const result = await retryDeadLetters(ctx, body);
          return json(response, result.status, result.body);
        }
        case '/api/dead-letters/discard': return json(response, 200, await discardDeadLetters(ctx, body));
        case '/api/snapshots': return json(response, 200, await snapshotAction(ctx, body));
      }
    }
    return text(response, 404, 'not found\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new CdcError('PGCDC_BAD_ARGUMENT', `cannot serve HTTP on ${options.host}:${options.port}: ${error.message}; choose another --metrics-port`, { cause: error })));
    server.listen(options.port, options.host, resolve);
  });
  server.unref();
  return {
    server,
    close() {
      history.stop();
      for (const p of pipelines) p.tail = undefined;
      // Keep-alive connections (scrapers, a live tail) would otherwise keep the process alive.
      server.closeAllConnections();
      server.close();
    },
  };
}

function text(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(body);
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

/** A POST's JSON body (at most 64 KB; `application/json` only, which a plain cross-site form cannot send). */
async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  if (!(request.headers['content-type'] ?? '').startsWith('application/json')) throw new ApiError(415, 'send JSON (content-type: application/json)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 65_536) throw new ApiError(413, 'request body over 64 KB');
    chunks.push(chunk);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch { /* answered below */ }
  throw new ApiError(400, 'the body is not a JSON object');
}
