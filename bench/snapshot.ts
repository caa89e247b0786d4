/**
 * npm run bench:snapshot: memory and speed of snapshots of a large table, measured
 * (never asserted): `pgcdc run` with an initial_only snapshot, and then an
 * incremental snapshot of the same table while a writer updates it, both into
 * the stdout sink piped to `wc -l`. Peak RSS from GNU time.
 *
 * Env: ROWS (default 10,000,000; each row about 100 bytes), CHUNK (initial chunk
 * size, default 10000), INCREMENTAL_CHUNK (default 1024).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROWS = Number(process.env.ROWS ?? 10_000_000);
const CHUNK = Number(process.env.CHUNK ?? 10_000);
const INCREMENTAL_CHUNK = Number(process.env.INCREMENTAL_CHUNK ?? 1024);
const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'pgcdc-bench-snapshot-'));
const bin = `${root}bin/pgcdc.js`;
const shebangFlags = readFileSync(bin, 'utf8').split('\n')[0]!.replace(/^#!\/usr\/bin\/env -S node\s*/, '').split(' ').filter(Boolean);

interface Measured { seconds: number; maxRssMb: number; lines: number }

/** Runs `pgcdc run` under GNU time, counting its stdout lines; `during` runs while it does, and ends it (stop()). */
async function measure(config: string, during?: (stop: () => void) => Promise<void>): Promise<Measured> {
  const timeFile = join(dir, 'time.txt');
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, node, ...shebangFlags, bin, 'run', '--config', config, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let lines = 0;
  child.stdout!.on('data', (chunk: Buffer) => { for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // SIGTERM to pgcdc itself (the child of time), so it drains and exits 0.
  const stop = () => execFileSync('pkill', ['-TERM', '-P', String(child.pid)]);
  if (during) await during(stop);
  await exited;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, maxRssMb: Math.round(Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024), lines };
}

async function main(): Promise<void> {
  execFileSync(`${root}node_modules/.bin/tsc`, ['-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
  const epg15 = ((await import('epg15')) as { default: never }).default;
  const server = await startEmbeddedPostgres(epg15, { label: 'bench-snapshot', extraFlags: ['-c', 'shared_buffers=512MB', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h'] });
  const db = new pg.Client({ connectionString: server.url() });
  const results: string[] = [];
  try {
    await db.connect();
    console.error(`creating ${ROWS.toLocaleString('en-US')} rows`);
    await db.query(`CREATE TABLE big (id bigint PRIMARY KEY, qty int, sku text, at timestamptz);
      INSERT INTO big SELECT g, g % 1000, 'sku-' || md5(g::text), now() FROM generate_series(1, ${ROWS}) g;
      CREATE PUBLICATION big_pub FOR TABLE big`);
    await db.query('VACUUM ANALYZE big');
    const size = (await db.query<{ size: string }>(`SELECT pg_size_pretty(pg_total_relation_size('big')) AS size`)).rows[0]!.size;

    // 1. initial snapshot, then exit (initial_only)
    const initialConfig = join(dir, 'initial.yaml');
    writeFileSync(initialConfig, `source: { url: "${server.url()}", slot: snap_initial, publication: big_pub }\nsnapshot: { mode: initial_only, chunkSize: ${CHUNK}, stateFile: "${dir}/initial.snapshot.json" }\nsink: { type: stdout }\nheartbeat: false\n`);
    const initial = await measure(initialConfig);

    // 2. incremental snapshot while a writer updates random rows
    const incConfig = join(dir, 'incremental.yaml');
    const stateFile = `${dir}/inc.snapshot.json`;
    writeFileSync(incConfig, `source: { url: "${server.url()}", slot: snap_inc, publication: big_pub }\nsnapshot: { mode: never, incrementalChunkSize: ${INCREMENTAL_CHUNK}, stateFile: "${stateFile}" }\nsink: { type: stdout }\nheartbeat: false\n`);
    let updates = 0;
    const incremental = await measure(incConfig, async (stop) => {
      const writer = new pg.Client({ connectionString: server.url() });
      await writer.connect();
      for (let i = 0; i < 300; i++) {
        const slot = await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'snap_inc' AND active`);
        if (slot.rowCount) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await db.query(`SELECT pg_logical_emit_message(false, 'pgcdc.signal', '{"type":"execute-snapshot","tables":["public.big"]}')`);
      const incrementalState = stateFile.replace(/\.snapshot\.json$/, '.incremental.json');
      for (;;) {
        await writer.query('UPDATE big SET qty = qty + 1 WHERE id = $1', [1 + Math.floor(Math.random() * ROWS)]);
        updates++;
        if (updates % 100 === 0 && existsSync(incrementalState) && (JSON.parse(readFileSync(incrementalState, 'utf8')) as { tables: unknown[] }).tables.length === 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await writer.end();
      stop();
    });
    results.push(`## Snapshots of a ${ROWS.toLocaleString('en-US')}-row table (${size}), pgcdc run → stdout | wc -l\n`);
    results.push('| snapshot | rows/s | seconds | lines out | peak RSS MB |', '|---|---:|---:|---:|---:|');
    results.push(`| initial (initial_only, chunk ${CHUNK}) | ${Math.round(ROWS / initial.seconds).toLocaleString('en-US')} | ${initial.seconds.toFixed(1)} | ${initial.lines} | ${initial.maxRssMb} |`);
    results.push(`| incremental (chunk ${INCREMENTAL_CHUNK}), ${updates} concurrent updates | ${Math.round(ROWS / incremental.seconds).toLocaleString('en-US')} | ${incremental.seconds.toFixed(1)} | ${incremental.lines} | ${incremental.maxRssMb} |`);
  } finally {
    await db.end().catch(() => undefined);
    await server.stop();
  }
  console.log(results.join('\n'));
}

await main();
