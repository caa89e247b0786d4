/**
 * npm run bench:console: what the console costs a pipeline draining a backlog,
 * measured (never asserted). The same backlog of N inserts is drained by
 * `pgcdc run` (file sink) four ways, alternated within one run so the noisy
 * machine treats them alike:
 *
 *   console off  `metrics.console: false`: only /metrics (the baseline)
 *   unwatched    the console served, nobody on it (its sampler still runs)
 *   live tail    Chromium (playwright-core) on the Events page, no filter
 *   overview     Chromium on the Overview page (charts refreshed every 2 s)
 *
 * Reported: changes/s from the moment the arm is in place (pgcdc answering;
 * for the browser arms, the page loaded and, for the tail, its stream open) to
 * the last delivered change (read from /metrics, polled every 100 ms in every
 * arm), and each arm's ratio to the console-off arm, beside the pgcdc
 * process's CPU per change (from /proc), which the noise of a shared machine
 * moves less than throughput.
 *
 * Env: N (default 1,000,000), RUNS (default 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';
import { binNodeFlags, cpuSeconds } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.N ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 3);
const bin = `${root}bin/pgcdc.js`;
const shebangFlags = binNodeFlags(root);
const dir = mkdtempSync(join(tmpdir(), 'pgcdc-bench-console-'));

type Arm = 'console off' | 'unwatched' | 'live tail' | 'overview';

async function delivered(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^pgcdc_sink_records_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function drain(db: pg.Client, url: string, browser: Browser, arm: Arm): Promise<{ rate: number; cpuMicros: number }> {
  const out = join(dir, 'out.jsonl');
  rmSync(out, { force: true });
  const port = await freePort();
  const config = join(dir, `bench-${port}.yaml`);
  writeFileSync(config, `
source: { url: "${url}", slot: bench, publication: bench_pub }
snapshot: { mode: never }
sink: { type: file, path: "${out}" }
heartbeat: false
metrics: { port: ${port}, console: ${arm !== 'console off'} }
`);
  // Transactions of 100,000 rows: a backlog of ordinary transactions, not one that spills.
  for (let done = 0; done < N; done += 100_000) {
    await db.query(`INSERT INTO orders (qty, sku) SELECT g % 100, 'sku-' || g FROM generate_series(1, ${Math.min(100_000, N - done)}) g`);
  }
  const child: ChildProcess = spawn(process.execPath, [...shebangFlags, bin, 'run', '--config', config, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const alive = () => { if (child.exitCode !== null) throw new Error(`pgcdc run exited with ${child.exitCode} during the ${arm} arm`); };
  let page: Page | undefined;
  try {
    for (;;) {
      alive();
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (arm === 'live tail' || arm === 'overview') {
      page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/#/${arm === 'live tail' ? 'events' : 'overview'}`);
      if (arm === 'live tail') await page.locator('.dot.on').waitFor();
    }
    // Measured from the moment the arm is in place (the browser connected), so
    // that only what drains while it watches counts.
    const first = performance.now();
    const firstCount = await delivered(port);
    const firstCpu = cpuSeconds(child.pid!);
    if (firstCount >= N * 0.8) throw new Error(`the backlog was ${Math.round((100 * firstCount) / N)}% drained before the browser was in place: raise N`);
    for (;;) {
      alive();
      const n = await delivered(port);
      if (n >= N) return { rate: ((n - firstCount) / (performance.now() - first)) * 1000, cpuMicros: ((cpuSeconds(child.pid!) - firstCpu) / (n - firstCount)) * 1e6 };
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await page?.close();
    child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  const epg18 = ((await import('epg18')) as { default: never }).default;
  const server = await startEmbeddedPostgres(epg18, { label: 'bench-console', extraFlags: ['-c', 'max_wal_size=4GB'] });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run'] });
  const db = new pg.Client({ connectionString: server.url() });
  await db.connect();
  try {
    await db.query(`CREATE TABLE orders (id bigserial PRIMARY KEY, qty int, sku text); CREATE PUBLICATION bench_pub FOR TABLE orders`);
    await db.query(`SELECT pg_create_logical_replication_slot('bench', 'pgoutput')`);
    const arms: Arm[] = ['console off', 'unwatched', 'live tail', 'overview'];
    const rates = Object.fromEntries(arms.map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
    const cpu = Object.fromEntries(arms.map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
    for (let run = 0; run < RUNS; run++) {
      // Rotated, so no arm always runs first (warm caches) or last.
      for (let i = 0; i < arms.length; i++) {
        const arm = arms[(run + i) % arms.length]!;
        const { rate, cpuMicros } = await drain(db, server.url(), browser, arm);
        rates[arm].push(rate);
        cpu[arm].push(cpuMicros);
        console.error(`run ${run + 1} ${arm}: ${Math.round(rate).toLocaleString('en-US')} changes/s, pgcdc CPU ${cpuMicros.toFixed(2)} µs/change`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = median(rates['console off']);
    const baseCpu = median(cpu['console off']);
    console.log(`\nconsole cost, ${N.toLocaleString('en-US')} inserts drained to a file, ${RUNS} runs each (medians; every run: ${arms.map((a) => `${a} ${rates[a].map((r) => Math.round(r / 1000)).join('/')}k`).join(', ')}):`);
    console.log('| arm | changes/s | × console off | pgcdc CPU µs/change | × console off |\n|---|---:|---:|---:|---:|');
    for (const arm of arms) console.log(`| ${arm} | ${Math.round(median(rates[arm])).toLocaleString('en-US')} | ${(median(rates[arm]) / base).toFixed(2)} | ${median(cpu[arm]).toFixed(2)} | ${(median(cpu[arm]) / baseCpu).toFixed(2)} |`);
  } finally {
    await db.end();
    await browser.close();
    await server.stop();
  }
}

await main();
