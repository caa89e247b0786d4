/**
 * npm run bench:scale: does the cost per change stay flat as the work grows?
 * (issue 17, "Scale"). Measured, never asserted. Each row: one workload written
 * after its slot was made, then drained by `pgcdc tail --format json
 * --until-lsn END > /dev/null` (the built package, as users start it), CPU and
 * peak RSS from GNU time. Rows are measured one after another on one
 * PostgreSQL 15: compare rows within one run.
 *
 *   columns       rows of 3, 30 and 300 columns (also per value)
 *   transaction   1, 100, 10,000 and 1,000,000 rows per transaction
 *   tables        one table against 10,000 tables, same number of changes
 *   pipelines     `pgcdc run` (stdout sink to /dev/null): 1 pipeline; 8 pipelines
 *                 in one process; 8 processes of one pipeline each; each
 *                 pipeline its own slot on the same table. CPU from /proc, from
 *                 the moment each process answers /healthz (Node's start-up left out)
 *
 * Env: N (changes per row, default 200,000; the 1,000,000-row transaction is
 * always 1,000,000, and larger SIZES are their size), ONLY (a comma list of groups: columns,transaction,messages,tables,pipelines),
 * SIZES (transaction sizes, default 1,100,10000,1000000), MEMORY_BUDGET (tail's --memory-budget,
 * e.g. 4MiB; default pgcdc's), DRAINS (drains of each messages
 * shape, interleaved; default 5), PGCDC_NODE_FLAGS
 * (extra node flags for tail, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';
import { binNodeFlags, cpuSeconds, dropSlotWhenFree, median, memoryReport, MEMORY_REPORT_FLAG } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.N ?? 200_000);
const ONLY = new Set((process.env.ONLY ?? 'columns,transaction,messages,tables,pipelines').split(','));
const shebangFlags = binNodeFlags(root).join(' ');
/** Drains of each shape in the messages group (W2 against rows), interleaved. */
const DRAINS = Number(process.env.DRAINS ?? 5);
/** PGCDC_BENCH_BASELINE=/path/to/another/built/tree: each row drained by both trees, from slots made together, order alternating. */
const trees = [root, ...(process.env.PGCDC_BENCH_BASELINE ? [`${process.env.PGCDC_BENCH_BASELINE.replace(/\/$/, '')}/`] : [])];

/** ownMb: peak RSS less the pages mapped from files, the node executable's (bench/consumers/memory-at-exit.mjs). */
interface Row { group: string; name: string; tree: string; changes: number; values: number; cpu: number; wall: number; rssMb: number; ownMb?: number; checked: string }

/** A table of `columns` columns: id, then ints and texts alternating. */
function tableDdl(name: string, columns: number): string {
  const cols = Array.from({ length: columns - 1 }, (_, i) => (i % 2 === 0 ? `c${i} int` : `c${i} text`));
  return `CREATE TABLE ${name} (id bigint PRIMARY KEY, ${cols.join(', ')})`;
}

function rowValues(columns: number, idExpr: string): string {
  return [idExpr, ...Array.from({ length: columns - 1 }, (_, i) => (i % 2 === 0 ? `(${idExpr}) % 1000` : `'v' || (${idExpr})`))].join(', ');
}

async function recordsDelivered(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^pgcdc_sink_records_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/**
 * Drains `slots` with `pgcdc run`, `perProcess` pipelines per process, each to
 * stdout (/dev/null); resolves with the CPU seconds all processes spent from
 * the moment they answered /healthz until every pipeline delivered `changes`.
 */
async function drainWithRun(url: string, slots: string[], perProcess: number, changes: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-scale-run-'));
  const devNull = openSync('/dev/null', 'w');
  const processes: Array<{ child: ChildProcess; port: number; expected: number }> = [];
  try {
    for (let i = 0; i < slots.length; i += perProcess) {
      const port = await freePort();
      const mine = slots.slice(i, i + perProcess);
      const config = join(dir, `run-${i}.yaml`);
      writeFileSync(config, `pipelines:\n${mine.map((slot) => `  - name: ${slot}\n    source: { url: "${url}", slot: ${slot}, publication: pub_pipes }\n    sink: { type: stdout }\n    snapshot: { mode: never }\n    heartbeat: false\n`).join('')}metrics: { port: ${port}, console: false }\n`);
      const child = spawn(process.execPath, [...shebangFlags.split(' ').filter(Boolean), `${root}bin/pgcdc.js`, 'run', '--config', config, '--log-format', 'json'], { stdio: ['ignore', devNull, 'ignore'] });
      processes.push({ child, port, expected: changes * mine.length });
    }
    const started: number[] = [];
    for (const p of processes) {
      for (;;) {
        if (p.child.exitCode !== null) throw new Error(`pgcdc run exited with ${p.child.exitCode}`);
        if (await fetch(`http://127.0.0.1:${p.port}/healthz`).then((r) => r.ok, () => false)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      started.push(cpuSeconds(p.child.pid!));
    }
    const spent = processes.map(() => -1);
    while (spent.some((s) => s < 0)) {
      for (const [i, p] of processes.entries()) {
        if (spent[i]! >= 0) continue;
        if (p.child.exitCode !== null) throw new Error(`pgcdc run exited with ${p.child.exitCode}`);
        if (await recordsDelivered(p.port) >= p.expected) spent[i] = cpuSeconds(p.child.pid!) - started[i]!;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return spent.reduce((a, b) => a + b, 0);
  } finally {
    for (const p of processes) p.child.kill('SIGTERM');
    await Promise.all(processes.map((p) => (p.child.exitCode !== null ? undefined : new Promise((r) => p.child.once('exit', r)))));
    closeSync(devNull);
  }
}

async function main(): Promise<void> {
  execFileSync(`${root}node_modules/.bin/tsc`, ['-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
  const epg15 = ((await import('epg15')) as { default: never }).default;
  const server = await startEmbeddedPostgres(epg15, {
    label: 'bench-scale',
    extraFlags: ['-c', 'shared_buffers=512MB', '-c', 'synchronous_commit=off', '-c', 'autovacuum=off', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h', '-c', 'max_locks_per_transaction=1024', '-c', 'max_replication_slots=32'],
  });
  const db = new pg.Client({ connectionString: server.url() });
  await db.connect();
  const rows: Row[] = [];
  /** Lines printed after the table (the messages group's medians). */
  const summaries: string[] = [];
  let serial = 0;

  /** Makes `count` slots on the server, runs `workload`, and returns the slots and the WAL position the drains stop at. */
  async function prepare(count: number, group: string, name: string, changes: number, workload: () => Promise<void>): Promise<{ slots: string[]; end: string }> {
    const slots = Array.from({ length: count }, () => `scale_${++serial}`);
    for (const slot of slots) await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const t0 = Date.now();
    await workload();
    const end = (await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
    await db.query('CHECKPOINT');
    console.error(`${group} / ${name}: workload of ${changes.toLocaleString('en-US')} changes took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { slots, end };
  }

  /** Drains `slot` to `end` with `tree`'s tail (its own bin's node flags, as bench:ab: they are part of what is compared) and records the row. */
  function drain(group: string, name: string, tree: string, treeName: string, slot: string, publication: string, end: string, changes: number, valuesPerChange: number): Row {
    const command = `${process.execPath} ${binNodeFlags(tree).join(' ')} ${MEMORY_REPORT_FLAG} ${process.env.PGCDC_NODE_FLAGS ?? ''} ${tree}bin/pgcdc.js tail '${server.url()}' --slot ${slot} --publication ${publication} --no-create-slot --no-heartbeat --format json --until-lsn ${end}${process.env.MEMORY_BUDGET ? ` --memory-budget ${process.env.MEMORY_BUDGET}` : ''} > /dev/null`;
    const started = process.hrtime.bigint();
    const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', 'bash', '-c', command], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    const time = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(result.stderr);
    if (result.status !== 0 || !time) throw new Error(`${name}: tail failed (${result.status}): ${result.stderr.slice(-1500)}`);
    const seen = Number(/after (\d+) events/.exec(result.stderr)?.[1]);
    const row = { group, name, tree: treeName, changes, values: changes * valuesPerChange, cpu: Number(time[2]) + Number(time[3]), wall, rssMb: Number(time[4]) / 1024, ownMb: memoryReport(result.stderr)?.ownMb, checked: seen === changes ? 'ok' : `MISMATCH ${seen} of ${changes}` };
    rows.push(row);
    console.error(`  ${row.tree}: ${(row.cpu / changes * 1e6).toFixed(2)} µs/change (user ${time[2]} s, system ${time[3]} s), ${Math.round(changes / wall).toLocaleString('en-US')} changes/s, peak RSS ${row.rssMb.toFixed(0)} MB (own ${row.ownMb?.toFixed(0) ?? '?'}), ${row.checked}`);
    return row;
  }

  /** Makes a slot per tree on `publication`, runs `workload`, drains each slot to the end and records the rows. */
  async function measure(group: string, name: string, publication: string, changes: number, valuesPerChange: number, workload: () => Promise<void>): Promise<void> {
    const { slots, end } = await prepare(trees.length, group, name, changes, workload);
    const order = trees.map((_, i) => (i + serial) % trees.length);
    for (const i of order) {
      drain(group, name, trees[i]!, i === 0 ? 'this' : 'baseline', slots[i]!, publication, end, changes, valuesPerChange);
      await dropSlotWhenFree(db, slots[i]!);
    }
  }

  try {
    if (ONLY.has('columns')) {
      for (const columns of [3, 30, 300]) {
        const table = `cols_${columns}`;
        await db.query(`${tableDdl(table, columns)}; CREATE PUBLICATION pub_${table} FOR TABLE ${table}`);
        // Wide rows are bigger: as many values in each row as 100 rows of 30 columns, per transaction.
        const perTx = Math.max(10, Math.round(3000 / columns));
        await measure('columns', `${columns} columns`, `pub_${table}`, N, columns, async () => {
          for (let done = 0; done < N; done += perTx) {
            await db.query(`INSERT INTO ${table} SELECT ${rowValues(columns, 'g')} FROM generate_series(${done + 1}, ${Math.min(N, done + perTx)}) g`);
          }
        });
      }
    }
    if (ONLY.has('transaction')) {
      await db.query(`${tableDdl('tx_rows', 6)}; CREATE PUBLICATION pub_tx FOR TABLE tx_rows`);
      let next = 0;
      for (const size of (process.env.SIZES ?? '1,100,10000,1000000').split(',').map(Number)) {
        const changes = size >= 1_000_000 ? size : size === 1 ? Math.min(N, 50_000) : N;
        await measure('transaction', `${size.toLocaleString('en-US')} rows per transaction`, 'pub_tx', changes, 6, async () => {
          const first = next;
          next += changes;
          if (size === 1) {
            // One row per transaction: a procedure that commits after each insert.
            await db.query(`DO $$ BEGIN FOR g IN ${first + 1}..${first + changes} LOOP INSERT INTO tx_rows VALUES (${rowValues(6, 'g')}); COMMIT; END LOOP; END $$`);
            return;
          }
          for (let done = 0; done < changes; done += size) {
            await db.query(`INSERT INTO tx_rows SELECT ${rowValues(6, 'g')} FROM generate_series(${first + done + 1}, ${first + Math.min(changes, done + size)}) g`);
          }
        });
      }
    }
    if (ONLY.has('messages')) {
      // W2's shape (the outbox): each transaction one INSERT and one transactional
      // logical message, against the same number of events as two INSERTs.
      await db.query(`${tableDdl('msg_rows', 6)}; CREATE PUBLICATION pub_msg FOR TABLE msg_rows`);
      const transactions = Math.min(N, 100_000) / 2;
      let next = 0;
      const outbox = (g: string) => `json_build_object('id', gen_random_uuid(), 'aggregate_type', 'order', 'aggregate_id', ${g}, 'payload', json_build_object('total', ${g} * 3, 'note', md5(${g}::text)))::text`;
      // The third shape tells the message path's own cost from its content's: a
      // W2 message event is about 1.4× a row event's bytes (630 against 452).
      const shapes = {
        '2 rows per transaction': `INSERT INTO msg_rows VALUES (${rowValues(6, 'g + 1')})`,
        '1 row + 1 outbox message per transaction (W2)': `PERFORM pg_logical_emit_message(true, 'outbox', ${outbox('g')})`,
        '1 row + 1 small outbox message per transaction': `PERFORM pg_logical_emit_message(true, 'outbox', '{"id":' || g || ',"aggregate_type":"o","aggregate_id":' || g || ',"payload":{}}')`,
      };
      // One workload per shape, DRAINS slots each (made just before it), then the
      // drains interleaved across shapes, so that the machine's drift and the
      // first drain's extra cost fall on every shape alike; a single drain of each,
      // one shape after another, measured W2 at 0.85-1.28× two rows in three runs.
      const prepared: Array<{ shape: string; slots: string[]; end: string }> = [];
      for (const [shape, second] of Object.entries(shapes)) {
        const first = next;
        next += transactions * 2;
        prepared.push({ shape, ...await prepare(DRAINS, 'messages', shape, transactions * 2, async () => {
          await db.query(`DO $$ BEGIN FOR g IN ${first + 1}..${first + transactions * 2} BY 2 LOOP INSERT INTO msg_rows VALUES (${rowValues(6, 'g')}); ${second}; COMMIT; END LOOP; END $$`);
        }) });
      }
      const perShape = new Map<string, number[]>();
      for (let d = 0; d < DRAINS; d++) {
        for (let k = 0; k < prepared.length; k++) {
          const { shape, slots, end } = prepared[(k + d) % prepared.length]!;
          console.error(`messages / ${shape}, drain ${d + 1} of ${DRAINS}`);
          const row = drain('messages', shape, root, 'this', slots[d]!, 'pub_msg', end, transactions * 2, 6);
          (perShape.get(shape) ?? perShape.set(shape, []).get(shape)!).push(row.cpu / row.changes * 1e6);
          await dropSlotWhenFree(db, slots[d]!);
        }
      }
      const baseline = median(perShape.get('2 rows per transaction')!);
      for (const [shape, micros] of perShape) {
        summaries.push(`messages, ${shape}: median ${median(micros).toFixed(2)} µs per event (${micros.map((m) => m.toFixed(2)).join(', ')}), ${(median(micros) / baseline).toFixed(2)}× two rows`);
      }
    }
    if (ONLY.has('tables')) {
      await db.query(`CREATE SCHEMA one; ${tableDdl('one.t0', 6)}; CREATE PUBLICATION pub_one FOR TABLES IN SCHEMA one`);
      await measure('tables', '1 table', 'pub_one', N, 6, async () => {
        for (let done = 0; done < N; done += 100) await db.query(`INSERT INTO one.t0 SELECT ${rowValues(6, 'g')} FROM generate_series(${done + 1}, ${done + 100}) g`);
      });
      const TABLES = 10_000;
      const t0 = Date.now();
      await db.query('CREATE SCHEMA many');
      for (let i = 0; i < TABLES; i += 500) {
        await db.query(Array.from({ length: 500 }, (_, j) => `${tableDdl(`many.t${i + j}`, 6)};`).join('\n'));
      }
      await db.query('CREATE PUBLICATION pub_many FOR TABLES IN SCHEMA many');
      console.error(`created ${TABLES} tables in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      // Each transaction writes 100 rows into 100 different tables; every table is written N / 10,000 times.
      await measure('tables', '10,000 tables', 'pub_many', N, 6, async () => {
        for (let done = 0; done < N; done += 100) {
          const statements = Array.from({ length: 100 }, (_, j) => {
            const id = done + j + 1;
            return `INSERT INTO many.t${(done + j) % TABLES} VALUES (${rowValues(6, String(id))});`;
          });
          await db.query(`BEGIN; ${statements.join(' ')} COMMIT;`);
        }
      });
    }
    if (ONLY.has('pipelines')) {
      await db.query(`${tableDdl('pipes', 6)}; CREATE PUBLICATION pub_pipes FOR TABLE pipes`);
      let next = 0;
      for (const [name, count, perProcess] of [['1 pipeline', 1, 1], ['8 pipelines in one process', 8, 8], ['8 processes of one pipeline', 8, 1]] as const) {
        const slots = Array.from({ length: count }, () => `scale_${++serial}`);
        for (const slot of slots) await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
        const first = next;
        next += N;
        for (let done = 0; done < N; done += 100) await db.query(`INSERT INTO pipes SELECT ${rowValues(6, 'g')} FROM generate_series(${first + done + 1}, ${first + done + 100}) g`);
        await db.query('CHECKPOINT');
        const t0 = performance.now();
        const cpu = await drainWithRun(server.url(), slots, perProcess, N);
        const wall = (performance.now() - t0) / 1000;
        const changes = N * count;
        rows.push({ group: 'pipelines', name, tree: 'this', changes, values: changes * 6, cpu, wall, rssMb: 0, checked: 'ok (sink records)' });
        console.error(`pipelines / ${name}: ${(cpu / changes * 1e6).toFixed(2)} µs/change over ${changes.toLocaleString('en-US')} changes`);
        for (const slot of slots) await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
      }
    }
  } finally {
    await db.end().catch(() => undefined);
    await server.stop();
  }
  console.log(`\n## Scale: pgcdc tail --format json, PostgreSQL 15, Node ${process.version}; N=${N.toLocaleString('en-US')}\n`);
  console.log(`| group | workload |${trees.length > 1 ? ' tree |' : ''} changes | µs CPU per change | ns CPU per value | changes/s | peak RSS MB | own MB | check |`);
  console.log(`|---|---|${trees.length > 1 ? '---|' : ''}---:|---:|---:|---:|---:|---:|---|`);
  for (const r of rows) {
    console.log(`| ${r.group} | ${r.name} |${trees.length > 1 ? ` ${r.tree} |` : ''} ${r.changes.toLocaleString('en-US')} | ${(r.cpu / r.changes * 1e6).toFixed(2)} | ${Math.round(r.cpu / r.values * 1e9)} | ${Math.round(r.changes / r.wall).toLocaleString('en-US')} | ${r.rssMb > 0 ? r.rssMb.toFixed(0) : "–"} | ${r.ownMb?.toFixed(0) ?? "–"} | ${r.checked} |`);
  }
  if (summaries.length > 0) console.log(`\n${summaries.join('\n')}`);
}

await main();
