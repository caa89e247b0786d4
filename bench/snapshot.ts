/**
 * npm run bench:snapshot: memory and speed of snapshots of a large table, measured
 * (never asserted), beside the server's own COPY rates of the same table in the
 * same run (the anchors):
 *  - `COPY items TO STDOUT` (text) and `COPY (SELECT row_to_json(i) FROM items i)
 *    TO STDOUT`, each by psql into /dev/null;
 *  - `pgcdc run` with an initial_only snapshot into a file sink, for each
 *    `snapshot.parallelism` in PARALLELISM;
 *  - an incremental snapshot of the same table while a writer updates it, into
 *    the stdout sink piped to `wc -l` (INCREMENTAL=0 leaves it out).
 * Peak RSS from GNU time. The table is shaped like W1's bench_items (a jsonb
 * payload of about 250 bytes, numeric, timestamptz).
 *
 * Env: ROWS (default 2,000,000), CHUNK (initial chunk size; default: pgcdc's),
 * PARALLELISM (comma-separated, default "1,4"), INCREMENTAL_CHUNK (default 1024),
 * RUNS (default 1; arms rotate within a run), PGCDC_NODE_FLAGS (extra node flags for
 * pgcdc, e.g. `--cpu-prof`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';
import { binNodeFlags, memoryReport, MEMORY_REPORT_FLAG } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROWS = Number(process.env.ROWS ?? 2_000_000);
const CHUNK = process.env.CHUNK === undefined ? undefined : Number(process.env.CHUNK);
const PARALLELISM = (process.env.PARALLELISM ?? '1,4').split(',').map(Number);
const INCREMENTAL = process.env.INCREMENTAL !== '0';
const INCREMENTAL_CHUNK = Number(process.env.INCREMENTAL_CHUNK ?? 1024);
const RUNS = Number(process.env.RUNS ?? 1);
const PSQL = process.env.PSQL ?? '/usr/lib/postgresql/15/bin/psql';
const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'pgcdc-bench-snapshot-'));
const bin = `${root}bin/pgcdc.js`;
const shebangFlags = [
  ...binNodeFlags(root),
  MEMORY_REPORT_FLAG,
  ...(process.env.PGCDC_NODE_FLAGS ?? '').split(' '),
].filter(Boolean);

/** ownMb: peak RSS less the pages mapped from files, the node executable's (bench/consumers/memory-at-exit.mjs); pgcdc only. */
interface Measured { seconds: number; maxRssMb: number; ownMb?: number; cpuSeconds: number; lines: number }

/** Runs a command under GNU time: wall seconds, peak RSS, user+system CPU. */
async function timed(command: string[], onStdout?: (chunk: Buffer) => void, during?: (stop: () => void) => Promise<void>): Promise<Omit<Measured, 'lines'>> {
  const timeFile = join(dir, 'time.txt');
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, ...command], { stdio: ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'] });
  if (onStdout) child.stdout!.on('data', onStdout);
  // Passed on as it comes; the end kept for the memory line written at exit.
  let stderrTail = '';
  child.stderr!.on('data', (chunk: Buffer) => { process.stderr.write(chunk); stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096); });
  // 'close', not 'exit': its stdout and stderr are read to their end (the line count, the memory line).
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  // SIGTERM to the measured process itself (the child of time), so it drains and exits 0.
  const stop = () => execFileSync('pkill', ['-TERM', '-P', String(child.pid)]);
  if (during) await during(stop);
  const code = await exited;
  if (code !== 0) throw new Error(`${command.join(' ')} exited ${code}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const [rss, user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  const memory = memoryReport(stderrTail);
  return { seconds, maxRssMb: Math.round(rss! / 1024), ...(memory ? { ownMb: Math.round(memory.ownMb) } : {}), cpuSeconds: user! + system! };
}

/** `pgcdc run --config`, counting its stdout lines. */
async function runPgcdc(config: string, during?: (stop: () => void) => Promise<void>): Promise<Measured> {
  let lines = 0;
  const measured = await timed([node, ...shebangFlags, bin, 'run', '--config', config, '--log-format', 'json'],
    (chunk) => { for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++; }, during);
  return { ...measured, lines };
}

function countLines(path: string): number {
  return Number(execFileSync('wc', ['-l', path], { encoding: 'utf8' }).trim().split(' ')[0]);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  execFileSync(`${root}node_modules/.bin/tsc`, ['-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
  const epg15 = ((await import('epg15')) as { default: never }).default;
  const server = await startEmbeddedPostgres(epg15, { label: 'bench-snapshot', extraFlags: ['-c', 'shared_buffers=512MB', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h', '-c', 'max_wal_senders=20', '-c', 'max_replication_slots=40'] });
  const db = new pg.Client({ connectionString: server.url() });
  const results: string[] = [];
  try {
    await db.connect();
    console.error(`creating ${ROWS.toLocaleString('en-US')} rows`);
    await db.query(`CREATE TABLE items (id bigserial PRIMARY KEY, sku text NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL, payload jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO items (sku, qty, price, payload)
        SELECT 'sku-' || g, g % 1000, (g % 10000) / 100.0,
               jsonb_build_object('note', repeat(md5(g::text), 6), 'tags', jsonb_build_array('a', 'b', g % 7), 'n', g)
          FROM generate_series(1, ${ROWS}) g;
      CREATE PUBLICATION items_pub FOR TABLE items`);
    await db.query('VACUUM ANALYZE items');
    const size = (await db.query<{ size: string }>(`SELECT pg_size_pretty(pg_total_relation_size('items')) AS size`)).rows[0]!.size;

    const psql = (sql: string) => timed([PSQL, '-X', '-q', '-d', server.url(), '-o', '/dev/null', '-c', sql]);
    const arms: Record<string, Array<Measured>> = {};
    const record = (arm: string, m: Measured) => { (arms[arm] ??= []).push(m); console.error(`${arm}: ${Math.round(ROWS / m.seconds)} rows/s, ${m.maxRssMb} MB${m.ownMb === undefined ? '' : ` (own ${m.ownMb})`}, ${m.cpuSeconds.toFixed(1)} s CPU`); };
    let slotNumber = 0;
    for (let run = 0; run < RUNS; run++) {
      const order = ['copy', 'json', ...PARALLELISM.map((p) => `pgcdc ${p}`)];
      for (let i = 0; i < run % order.length; i++) order.push(order.shift()!);
      for (const arm of order) {
        if (arm === 'copy') record('COPY items TO STDOUT (text)', { ...await psql('COPY items TO STDOUT'), lines: ROWS });
        else if (arm === 'json') record('COPY (SELECT row_to_json(i) FROM items i) TO STDOUT', { ...await psql('COPY (SELECT row_to_json(i) FROM items i) TO STDOUT'), lines: ROWS });
        else {
          const parallelism = Number(arm.split(' ')[1]);
          const slot = `snap_initial_${++slotNumber}`;
          const config = join(dir, `${slot}.yaml`);
          const out = join(dir, `${slot}.jsonl`);
          writeFileSync(config, `source: { url: "${server.url()}", slot: ${slot}, publication: items_pub }\n`
            // parallelism always written: left out, pgcdc's default (2) applies, which made every
            // "parallelism 1" row before 2026-12-04 a second parallelism-2 row.
            + `snapshot: { mode: initial_only, parallelism: ${parallelism}${CHUNK ? `, chunkSize: ${CHUNK}` : ''}, stateFile: "${dir}/${slot}.snapshot.json" }\n`
            + `sink: { type: file, path: "${out}" }\nheartbeat: false\n`);
          const measured = await runPgcdc(config);
          const lines = countLines(out);
          if (lines !== ROWS) throw new Error(`${arm}: ${lines} events in the file, expected ${ROWS}`);
          rmSync(out);
          await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
          record(`pgcdc run, initial_only → file, parallelism ${parallelism}`, { ...measured, lines });
        }
      }
    }
    results.push(`## Initial snapshot of a ${ROWS.toLocaleString('en-US')}-row table shaped like W1's (${size}), ${RUNS} run(s), medians\n`);
    results.push('| reader | rows/s | × COPY text | × COPY row_to_json | seconds | client CPU µs/row | peak RSS MB | own MB |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    const rate = (arm: string) => ROWS / median(arms[arm]!.map((m) => m.seconds));
    const copyText = rate('COPY items TO STDOUT (text)');
    const copyJson = rate('COPY (SELECT row_to_json(i) FROM items i) TO STDOUT');
    for (const [arm, measured] of Object.entries(arms)) {
      const r = rate(arm);
      results.push(`| ${arm} | ${Math.round(r).toLocaleString('en-US')} | ${(r / copyText).toFixed(2)} | ${(r / copyJson).toFixed(2)} | ${median(measured.map((m) => m.seconds)).toFixed(1)} | ${(median(measured.map((m) => m.cpuSeconds)) * 1e6 / ROWS).toFixed(2)} | ${median(measured.map((m) => m.maxRssMb))} | ${measured[0]!.ownMb === undefined ? '–' : median(measured.map((m) => m.ownMb!))} |`);
    }
    results.push('', `Every run (rows/s): ${Object.entries(arms).map(([arm, ms]) => `${arm}: ${ms.map((m) => Math.round(ROWS / m.seconds)).join(', ')}`).join('; ')}`);

    if (INCREMENTAL) {
      // An incremental snapshot of the same table while a writer updates random rows.
      const incConfig = join(dir, 'incremental.yaml');
      const stateFile = `${dir}/inc.snapshot.json`;
      writeFileSync(incConfig, `source: { url: "${server.url()}", slot: snap_inc, publication: items_pub }\nsnapshot: { mode: never, incrementalChunkSize: ${INCREMENTAL_CHUNK}, stateFile: "${stateFile}" }\nsink: { type: stdout }\nheartbeat: false\n`);
      let updates = 0;
      const incremental = await runPgcdc(incConfig, async (stop) => {
        const writer = new pg.Client({ connectionString: server.url() });
        await writer.connect();
        for (let i = 0; i < 300; i++) {
          const slot = await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'snap_inc' AND active`);
          if (slot.rowCount) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await db.query(`SELECT pg_logical_emit_message(false, 'pgcdc.signal', '{"type":"execute-snapshot","tables":["public.items"]}')`);
        const incrementalState = stateFile.replace(/\.snapshot\.json$/, '.incremental.json');
        for (;;) {
          await writer.query('UPDATE items SET qty = qty + 1 WHERE id = $1', [1 + Math.floor(Math.random() * ROWS)]);
          updates++;
          if (updates % 100 === 0 && existsSync(incrementalState) && (JSON.parse(readFileSync(incrementalState, 'utf8')) as { tables: unknown[] }).tables.length === 0) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        await writer.end();
        stop();
      });
      results.push('', '| incremental snapshot → stdout | rows/s | seconds | lines out | peak RSS MB | own MB |', '|---|---:|---:|---:|---:|---:|');
      results.push(`| chunk ${INCREMENTAL_CHUNK}, ${updates} concurrent updates | ${Math.round(ROWS / incremental.seconds).toLocaleString('en-US')} | ${incremental.seconds.toFixed(1)} | ${incremental.lines} | ${incremental.maxRssMb} | ${incremental.ownMb ?? '–'} |`);
    }
  } finally {
    await db.end().catch(() => undefined);
    await server.stop();
  }
  console.log(results.join('\n'));
}

await main();
