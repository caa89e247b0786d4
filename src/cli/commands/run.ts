/** `pgcdc run --config pgcdc.yaml`: configured pipelines, acknowledged only after the sink confirms. Reference: docs/run.md. */
import { createServer, type Server } from 'node:http';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { loadConfig } from '../../config/load-config.ts';
import { createPipeline, type Pipeline } from '../../pipeline/pipeline.ts';
import { notice, usageError } from '../output.ts';
import { createLogger, type LogFormat } from '../../observe/logger.ts';
import { snapshotProgressReporter } from '../../observe/snapshot-progress.ts';
import { formatLsn } from '../../core/lsn.ts';
import { connectionNotice, resolveConnection } from '../../source/connection-config.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the pipelines of a config file: stream changes to sinks, acknowledging only what the sinks confirmed')
    .requiredOption('-c, --config <file>', 'pgcdc.yaml, pgcdc.json, or pgcdc.config.ts / .js / .mjs (a default export; transforms may be functions)')
    .option('--check', 'validate the config and exit')
    .option('--log-format <format>', 'auto (readable on a terminal, JSON lines otherwise), json or pretty', 'auto')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port (overrides metrics.port; 127.0.0.1 unless metrics.host says otherwise)')
    .action(async (options: { config: string; check?: boolean; logFormat: string; metricsPort?: string }) => {
      if (!['auto', 'json', 'pretty'].includes(options.logFormat)) throw usageError(`--log-format expects auto, json or pretty, got "${options.logFormat}"`);
      const log = createLogger(options.logFormat as LogFormat);
      const config = await loadConfig(options.config);
      if (options.metricsPort !== undefined) {
        const port = Number(options.metricsPort);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--metrics-port expects a port number, got "${options.metricsPort}"`);
        config.metrics = { host: config.metrics === false ? '127.0.0.1' : config.metrics.host, port };
      }
      if (options.check) {
        notice(`${options.config}: ${config.pipelines.length} pipeline(s), valid`);
        return;
      }
      for (const p of config.pipelines) {
        const line = p.source.url === undefined ? connectionNotice(resolveConnection(undefined)) : undefined;
        if (line !== undefined) log.info(`${p.source.slot}: ${line}`, { pipeline: p.source.slot });
      }
      const pipelines = config.pipelines.map((p) => createPipeline(p));
      const failures: Error[] = [];
      for (const pipeline of pipelines) {
        pipeline.on('notice', (message) => log.info(message, { pipeline: pipeline.name }));
        pipeline.on('retry', ({ name, attempt, delayMs, error }) => log.warn(`${name}: ${error.message}; retry ${attempt} in ${delayMs} ms`, { pipeline: name, attempt, delayMs, code: (error as { code?: string }).code }));
        pipeline.on('error', (error) => { failures.push(error); void stopAll(); });
        let lastIncrementalLog = 0;
        pipeline.on('incrementalSnapshot', ({ name, table, rows, estimatedRows, tablesQueued }) => {
          // At most every 10 s: a chunk is confirmed every few milliseconds.
          if (Date.now() - lastIncrementalLog < 10_000) return;
          lastIncrementalLog = Date.now();
          log.info(`${name}: incremental snapshot of ${table}: ${rows} rows${estimatedRows > 0 ? ` of about ${estimatedRows}` : ''}, ${tablesQueued} table(s) queued`, { pipeline: name, table, rows, estimatedRows, tablesQueued });
        });
        pipeline.on('snapshot', snapshotProgressReporter(process.stderr.isTTY === true, {
          line: (text) => process.stderr.write(text),
          log: (text, fields) => log.info(text, fields),
        }));
      }
      let stopping: Promise<void> | undefined;
      const stopAll = () => (stopping ??= Promise.all(pipelines.map((p) => p.stop())).then(() => undefined));
      process.once('SIGTERM', () => void stopAll());
      process.once('SIGINT', () => void stopAll());
      const server = config.metrics === false ? undefined : await serveHealthAndMetrics(pipelines, config.metrics.host, config.metrics.port);
      try {
        for (const pipeline of pipelines) {
          await pipeline.start();
          // A standby says so itself (its notice names the active instance), and logs this line when it takes over.
          if (pipeline.health !== 'standby') log.info(`${pipeline.name}: streaming slot ${pipeline.currentStream!.slot} to ${pipeline.sinkName}`, { pipeline: pipeline.name, slot: pipeline.currentStream!.slot, sink: pipeline.sinkName });
        }
        await Promise.all(pipelines.map((p) => p.done.catch(() => undefined)));
        await stopAll();
      } catch (error) {
        await stopAll();
        throw error;
      } finally {
        // Keep-alive connections from scrapers would otherwise keep the process alive.
        server?.closeAllConnections();
        server?.close();
      }
      if (failures.length > 0) throw failures[0];
      for (const p of pipelines) {
        const acknowledged = p.acknowledgedLsn === undefined ? '-' : formatLsn(p.acknowledgedLsn);
        log.info(`${p.name}: stopped after ${p.events} events, acknowledged up to ${acknowledged}`, { pipeline: p.name, events: p.events, acknowledged, deadLetters: p.deadLetters, retries: p.retries });
      }
    });
}

/** /metrics (all pipelines), /healthz (process up), /readyz (every pipeline streaming, none degraded). */
async function serveHealthAndMetrics(pipelines: Pipeline[], host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/healthz') { response.writeHead(200); response.end('ok\n'); return; }
    if (request.url === '/readyz') {
      const states = pipelines.map((p) => `${p.name} ${p.health}`);
      const ready = pipelines.every((p) => p.health === 'running');
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      response.end(`${states.join('\n')}\n`);
      return;
    }
    if (request.url === '/metrics') {
      const merged = Registry.merge(pipelines.map((p) => p.metrics?.registry).filter((r): r is Registry => r !== undefined));
      merged.metrics().then((text) => { response.writeHead(200, { 'content-type': merged.contentType }); response.end(text); }, (e: Error) => { response.writeHead(500); response.end(e.message); });
      return;
    }
    response.writeHead(404);
    response.end();
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  server.unref();
  return server;
}
