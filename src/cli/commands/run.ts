/** `pgcdc run --config pgcdc.yaml`: configured pipelines, acknowledged only after the sink confirms. Reference: docs/run.md. */
import type { Command } from 'commander';
import { notice, usageError } from '../output.ts';
import type { LogFormat } from '../../observe/logger.ts';
import { formatLsn } from '../../core/lsn.ts';
import { connectionNotice, resolveConnection } from '../../source/connection-config.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the pipelines of a config file: stream changes to sinks, acknowledging only what the sinks confirmed')
    .requiredOption('-c, --config <file>', 'pgcdc.yaml, pgcdc.json, or pgcdc.config.ts / .js / .mjs (a default export; transforms may be functions)')
    .option('--check', 'validate the config and exit')
    .option('--log-format <format>', 'auto (readable on a terminal, JSON lines otherwise), json or pretty', 'auto')
    .option('--metrics-port <port>', 'serve the console (/), /metrics, /healthz and /readyz on this port (overrides metrics.port; 127.0.0.1 unless metrics.host says otherwise)')
    .action(async (options: { config: string; check?: boolean; logFormat: string; metricsPort?: string }) => {
      if (!['auto', 'json', 'pretty'].includes(options.logFormat)) throw usageError(`--log-format expects auto, json or pretty, got "${options.logFormat}"`);
      // Loaded here, not at the top: every pgcdc command would otherwise load the
      // sinks' clients, the config validator and the console (about 0.5 s of CPU).
      const [{ createLogger }, { loadConfig }, { createPipeline }, { snapshotProgressReporter }, { serveHttpPort }] = await Promise.all([
        import('../../observe/logger.ts'), import('../../config/load-config.ts'), import('../../pipeline/pipeline.ts'),
        import('../../observe/snapshot-progress.ts'), import('../../console/console-server.ts'),
      ]);
      const log = createLogger(options.logFormat as LogFormat);
      const config = await loadConfig(options.config);
      if (options.metricsPort !== undefined) {
        const port = Number(options.metricsPort);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--metrics-port expects a port number, got "${options.metricsPort}"`);
        config.metrics = config.metrics === false ? { host: '127.0.0.1', port, console: true } : { ...config.metrics, port };
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
      const http = config.metrics === false ? undefined : await serveHttpPort(pipelines, {
        host: config.metrics.host,
        port: config.metrics.port,
        token: process.env.PGCDC_CONSOLE_TOKEN || config.metrics.token,
        console: config.metrics.console,
        config,
      });
      if (http !== undefined && config.metrics !== false) {
        const address = http.server.address();
        const port = typeof address === 'object' && address !== null ? address.port : config.metrics.port;
        const where = `http://${config.metrics.host.includes(':') ? `[${config.metrics.host}]` : config.metrics.host}:${port}`;
        log.info(config.metrics.console ? `console at ${where}/ (metrics at ${where}/metrics)` : `metrics at ${where}/metrics`, { port });
      }
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
        http?.close();
      }
      if (failures.length > 0) throw failures[0];
      for (const p of pipelines) {
        const acknowledged = p.acknowledgedLsn === undefined ? '-' : formatLsn(p.acknowledgedLsn);
        log.info(`${p.name}: stopped after ${p.events} events, acknowledged up to ${acknowledged}`, { pipeline: p.name, events: p.events, acknowledged, deadLetters: p.deadLetters, retries: p.retries });
      }
    });
}

