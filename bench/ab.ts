/**
 * npm run bench:ab: pgcdc tail's CPU for W1 in this tree against another built
 * tree (PGCDC_BENCH_BASELINE), drained alternately in ABBA order from slots made
 * before one workload. bench/run.ts's baseline rows are drained in a rotating
 * order with the anchors, and the first drain after the workload is the slow
 * one: that put 0.3-0.4 s (10%) on whichever tree went first. Here each tree
 * goes first equally often, and only CPU per process is compared.
 *
 * Env: PGCDC_BENCH_BASELINE (required), N (default 200,000 → 320,000 changes),
 * PAIRS (default 4: 2 × PAIRS drains), SOCKET=1 (over the server's unix socket).
 */
import pg from 'pg';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';
import { binNodeFlags, median } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const baseline = process.env.PGCDC_BENCH_BASELINE?.replace(/\/$/, '');
if (!baseline) {
  console.error('bench:ab: set PGCDC_BENCH_BASELINE to another built pgcdc tree (git worktree add /tmp/before <rev>; npm run build there)');
  process.exit(1);
}
const N = Number(process.env.N ?? 200_000);
const PAIRS = Number(process.env.PAIRS ?? 4);
const SOCKET = process.env.SOCKET === '1';
const trees = [root, baseline];
// Each tree runs with its own bin's node flags: they are part of what is compared.
const flags = trees.map((tree) => binNodeFlags(tree).join(' '));

execFileSync(`${root}/node_modules/.bin/tsc`, ['-p', `${root}/tsconfig.build.json`], { stdio: 'inherit' });
const epg15 = ((await import('epg15')) as { default: never }).default;
const server = await startEmbeddedPostgres(epg15, {
  label: 'bench-ab',
  extraFlags: ['-c', 'shared_buffers=512MB', '-c', 'synchronous_commit=off', '-c', 'autovacuum=off', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h',
    '-c', `max_replication_slots=${2 * PAIRS + 4}`, '-c', `max_wal_senders=${2 * PAIRS + 4}`],
});
const db = new pg.Client({ connectionString: server.url() });
try {
  await db.connect();
  await db.query(readFileSync(`${root}/bench/workload.sql`, 'utf8'));
  for (let i = 0; i < 2 * PAIRS; i++) await db.query(`SELECT pg_create_logical_replication_slot('ab_${i}', 'pgoutput')`);
  const changes = N + Math.floor((N * 2) / 5) + Math.floor(N / 5);
  await db.query(`CALL bench_w1(${N}, 100, ${Math.floor((N * 2) / 5)}, ${Math.floor(N / 5)})`);
  const end = (await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
  await db.query('CHECKPOINT');
  const cpu: number[][] = [[], []];
  const wall: number[][] = [[], []];
  const rss: number[][] = [[], []];
  const url = SOCKET ? `postgresql://${server.user}:${encodeURIComponent(server.password)}@/postgres?host=${encodeURIComponent(server.dataDir)}&port=${server.port}` : server.url();
  for (let i = 0; i < 2 * PAIRS; i++) {
    const t = (i + Math.floor(i / 2)) % 2; // A B B A A B B A ...
    const command = `${process.execPath} ${flags[t]} ${trees[t]}/bin/pgcdc.js tail '${url}' --slot ab_${i} --publication bench_pub --no-create-slot --no-heartbeat --format json --until-lsn ${end} > /dev/null`;
    const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', 'bash', '-c', command], { encoding: 'utf8' });
    const time = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(result.stderr);
    const seen = Number(/after (\d+) events/.exec(result.stderr)?.[1]);
    if (result.status !== 0 || !time || seen !== changes) throw new Error(`drain ${i} failed (exit ${result.status}, ${seen} of ${changes} events): ${result.stderr.slice(-1000)}`);
    const seconds = Number(time[2]) + Number(time[3]);
    cpu[t]!.push(seconds);
    wall[t]!.push(Number(time[1]));
    rss[t]!.push(Number(time[4]) / 1024);
    console.error(`${t === 0 ? 'this    ' : 'baseline'}  CPU ${seconds.toFixed(2)} s (${(seconds / changes * 1e6).toFixed(2)} µs/change), wall ${time[1]} s, peak RSS ${Math.round(Number(time[4]) / 1024)} MB`);
  }
  const [mine, theirs] = [median(cpu[0]!), median(cpu[1]!)];
  const [myRate, theirRate] = [changes / median(wall[0]!), changes / median(wall[1]!)];
  console.log(`\n## A/B, W1 N=${N} (${changes} changes) over ${SOCKET ? 'the unix socket' : 'TCP'}, ${PAIRS} pairs in ABBA order, medians\n`);
  console.log('| tree | CPU s | µs per change | CPU × baseline | changes/s | rate × baseline | peak RSS MB, each drain |\n|---|---:|---:|---:|---:|---:|---|');
  console.log(`| this (${root}) | ${mine.toFixed(2)} | ${(mine / changes * 1e6).toFixed(2)} | ${(mine / theirs).toFixed(3)} | ${Math.round(myRate).toLocaleString('en-US')} | ${(myRate / theirRate).toFixed(3)} | ${rss[0]!.map((r) => r.toFixed(0)).join(', ')} |`);
  console.log(`| baseline (${baseline}) | ${theirs.toFixed(2)} | ${(theirs / changes * 1e6).toFixed(2)} | 1.000 | ${Math.round(theirRate).toLocaleString('en-US')} | 1.000 | ${rss[1]!.map((r) => r.toFixed(0)).join(', ')} |`);
} finally {
  await db.end().catch(() => undefined);
  await server.stop();
}
