/** Serves /metrics (Prometheus text format) and /healthz, on 127.0.0.1 unless told otherwise. */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { CdcError } from '../core/errors.ts';

export async function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      registry.metrics().then(
        (text) => { response.writeHead(200, { 'content-type': registry.contentType }); response.end(text); },
        (error: Error) => { response.writeHead(500); response.end(error.message); },
      );
      return;
    }
    if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('ok\n');
      return;
    }
    response.writeHead(404);
    response.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new CdcError('PGCDC_BAD_ARGUMENT', `cannot serve metrics on ${host}:${port}: ${error.message}; choose another --metrics-port`, { cause: error })));
    server.listen(port, host, resolve);
  });
  server.unref();
  return server;
}
