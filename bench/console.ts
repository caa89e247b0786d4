/**
 * npm run bench:console: what the console costs a pipeline draining a backlog,
 * measured (never asserted). The same backlog of N inserts is drained by
 * `pgcdc run` (file sink) three ways, alternated within one run so the noisy
 * machine treats them alike:
 *
 *   unwatched  the console served, nobody on it (its sampler still runs)
 *   live tail  Chromium (playwright-core) on the Events page, no filter
 *   overview   Chromium on the Overview page (charts refreshed every 2 s)
 *
 * Reported: changes/s from the moment the arm is in place (pgcdc answering;
 * for the browser arms, the page loaded and, for the tail, its stream open) to
 * the last delivered change (read from /metrics, polled every 100 ms in every
 * arm), and each arm's ratio to the unwatched arm.
 *
 * Env: N (default 1,000,000), RUNS (default 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.N ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 3);
const bin = `${root}bin/pgcdc.js`;
const shebangFlags = readFileSync(bin, 'utf8').split('\n')[0]!.replace(/^#!\/usr\/bin\/env -S node\s*/, '').split(' ').filter(Boolean);
const dir = mkdtempSync(join(tmpdir(), 'pgcdc-bench-console-'));

type Arm = 'unwatched' | 'live tail' | 'overview';

async function delivered(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^pgcdc_sink_records_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function drain(db: pg.Client, url: string, browser: Browser, arm: Arm, run: number): Promise<number> {
  const out = join(dir, `out-${run}.jsonl`);
  rmSync(out, { force: true });
  const port = await freePort();
  const config = join(dir, `bench-${port}.yaml`);
  writeFileSync(config, `
source: { url: "${url}", slot: bench, publication: bench_pub }
snapshot: { mode: never }
sink: { type: file, path: "${out}" }
heartbeat: false
metrics: { port: ${port} }
`);
  await db.query(`INSERT INTO orders (qty, sku) SELECT g % 100, 'sku-' || g FROM generate_series(1, ${N}) g`);
  const child: ChildProcess = spawn(process.execPath, [...shebangFlags, bin, 'run', '--config', config, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  let page: Page | undefined;
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (arm !== 'unwatched') {
      page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/#/${arm === 'live tail' ? 'events' : 'overview'}`);
      if (arm === 'live tail') await page.locator('.dot.on').waitFor();
    }
    // Measured from the moment the arm is in place (the browser connected), so
    // that only what drains while it watches counts.
    const first = performance.now();
    const firstCount = await delivered(port);
    if (firstCount >= N * 0.8) throw new Error(`the backlog was ${Math.round((100 * firstCount) / N)}% drained before the browser was in place: raise N`);
    for (;;) {
      const n = await delivered(port);
      if (n >= N) return ((n - firstCount) / (performance.now() - first)) * 1000;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await page?.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
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
    const rates: Record<Arm, number[]> = { unwatched: [], 'live tail': [], overview: [] };
    const arms: Arm[] = ['unwatched', 'live tail', 'overview'];
    for (let run = 0; run < RUNS; run++) {
      // Rotated, so no arm always runs first (warm caches) or last.
      for (let i = 0; i < arms.length; i++) {
        const arm = arms[(run + i) % arms.length]!;
        const rate = await drain(db, server.url(), browser, arm, run);
        rates[arm].push(rate);
        console.error(`run ${run + 1} ${arm}: ${Math.round(rate).toLocaleString('en-US')} changes/s`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = median(rates.unwatched);
    console.log(`\nconsole cost, ${N.toLocaleString('en-US')} inserts drained to a file, ${RUNS} runs each (median):`);
    console.log('| arm | changes/s | × unwatched |\n|---|---:|---:|');
    for (const arm of arms) console.log(`| ${arm} | ${Math.round(median(rates[arm])).toLocaleString('en-US')} | ${(median(rates[arm]) / base).toFixed(2)} |`);
  } finally {
    await db.end();
    await browser.close();
    await server.stop();
  }
}

await main();
