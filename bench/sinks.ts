/**
 * npm run bench:sinks: pgcdc run end to end, measured beside `pgcdc tail > /dev/null`
 * on the same cluster in the same run (ratios, not absolutes: the machine is noisy).
 *
 *  1. Throughput: drain a W1 backlog (bench/workload.sql, N inserts + 0.4N updates +
 *     0.2N deletes) with tail → /dev/null (reference: the mean of a drain before the
 *     sinks' and one after them, the first after a drain that is not measured, so
 *     that it is never the cold first drain), run → file (fsync per batch),
 *     run → NATS JetStream (PubAck per record), run → Redis Streams (XADD),
 *     run → Kafka (librdkafka's mock cluster hosted by kcat: a protocol peer, not a
 *     broker with disks), run → RabbitMQ (a real rabbitmq-server, publisher
 *     confirms, one durable queue bound to the exchange) and run → PostgreSQL
 *     (the audit table, in another database of the same server). The clock stops
 *     when the sink holds every change (for PostgreSQL: when the slot's confirmed
 *     position, acknowledged every 200 ms, reaches the workload's end).
 *     pgcdc's CPU is its own process's, by pid; the brokers' and PostgreSQL's
 *     by process name.
 *     CPU per change is also given without each pgcdc process's start-up (its
 *     CPU until it streams, measured on a second, idle slot): a fixed cost that
 *     is about 1 µs per change of this drain, and larger for `run` than `tail`.
 *     Floors (bench/floors/): each protocol's own least cost per record, W1-sized
 *     records prepared once and sent as the sink sends a write, the broker's
 *     answers counted (NATS PubAcks, Redis MULTI/XADD/EXEC replies, RabbitMQ
 *     publisher confirms; Kafka: its
 *     client library's produce and delivery reports). run → file plus a floor is
 *     the least `run` into that sink can cost (printed beside the measured).
 *  2. Latency: a steady 1,000 single-row transactions/s for DURATION seconds (after
 *     WARMUP seconds of the same load that are not counted); for
 *     each change, (time it is readable in the sink) − (its commit time): p50, p99.
 *
 * Env: N (default 200000 → 320,000 changes), DURATION (default 10), WARMUP
 * (seconds of the same load before the measured DURATION, default 2), SINKS (which
 * sinks to run, default "file,nats,redis,kafka,rabbitmq,postgres"), LATENCY_GROUPS (which sinks run
 * their latency phase together, default "file,nats,nats-remote,redis+kafka,rabbitmq,postgres": each group is
 * measured on its own, so the pipelines of one group do not compete with the
 * others for the two CPUs. File and NATS are measured alone: beside each other,
 * the file sink's fsyncs (hundreds a second at this load) and nats-server's
 * store share one disk journal, and NATS's p99 measured that contention, 20-26 ms
 * against 9 ms alone; docs/benchmarks.md). `nats-remote` is the NATS sink
 * reaching the same nats-server through a proxy that holds every chunk
 * REMOTE_DELAY_MS (default 2) in each direction, like a server in another zone:
 * it measures what waiting for PubAcks costs when they take a while (the
 * reader subscribes directly).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { startEmbeddedPostgres, freePort } from '../src/demo/embedded-postgres.ts';
import { startKafkaMock } from '../test/support/kafka.ts';
import { startRedis } from '../test/support/redis.ts';
import { startRabbitMq, type TestRabbitMq } from '../test/support/rabbitmq.ts';
import { startTcpProxy } from '../test/support/tcp-proxy.ts';
import { binNodeFlags, contextSwitches, cpuSeconds } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.N ?? 200_000);
const DURATION = Number(process.env.DURATION ?? 10);
const WARMUP = Number(process.env.WARMUP ?? 2);
const SINKS = new Set((process.env.SINKS ?? 'file,nats,redis,kafka,rabbitmq,postgres').split(',').map((s) => s.trim()).filter(Boolean));
const LATENCY_GROUPS = (process.env.LATENCY_GROUPS ?? 'file,nats,nats-remote,redis+kafka,rabbitmq,postgres').split(',').map((g) => g.split('+').filter((s) => SINKS.has(s.replace(/-remote$/, '')))).filter((g) => g.length > 0);
const REMOTE_DELAY_MS = Number(process.env.REMOTE_DELAY_MS ?? 2);
const PGCDC_NODE_FLAGS = (process.env.PGCDC_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'pgcdc-bench-sinks-'));
const bin = `${root}bin/pgcdc.js`;
const shebangFlags = binNodeFlags(root);

function startNats(port: number) {
  const child = spawn(existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'nats')], { stdio: 'ignore' });
  return child;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Counts newlines incrementally (reads only what was appended since the last call), so polling stays cheap. */
function lineCounter(file: string): () => Promise<number> {
  let offset = 0;
  let lines = 0;
  const buffer = Buffer.alloc(1 << 20);
  return async () => {
    if (!existsSync(file)) return 0;
    const handle = await open(file, 'r');
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) return lines;
        offset += bytesRead;
        for (let i = 0; i < bytesRead; i++) if (buffer[i] === 10) lines++;
      }
    } finally {
      await handle.close();
    }
  };
}

/**
 * CPU seconds (user + system) used so far by live processes, by command name
 * (/proc/PID/stat): the walsender, nats-server, redis-server, kcat and pgcdc share
 * the same two CPUs, so where the time goes says what limits a sink.
 */
/** The key of the pgcdc process's own CPU in a run's CPU map (measured by pid, not by command name). */
const PGCDC = 'pgcdc';

function cpuByCommand(): Map<string, number> {
  const totals = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try { stat = readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; }
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    totals.set(command, (totals.get(command) ?? 0) + seconds);
  }
  return totals;
}

/** CPU seconds per command used between two snapshots (processes that exited in between are not counted). */
function cpuDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [command, seconds] of after) delta.set(command, seconds - (before.get(command) ?? 0));
  return delta;
}

/** Records in a topic of the mock cluster: the sum of its partitions' end offsets (kcat -Q, timestamp -1). */
function kafkaEndOffsets(bootstrap: string, topic: string): number {
  const args = ['-Q', '-b', bootstrap];
  for (let p = 0; p < 4; p++) args.push('-t', `${topic}:${p}:-1`);
  let out = '';
  try { out = execFileSync('kcat', args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString(); } catch { return 0; }
  return [...out.matchAll(/offset (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

const pct = (values: number[], p: number) => { const s = [...values].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN; };

interface LatencyContext {
  db: pg.Client;
  serverUrl: string;
  natsPort: number;
  /** The delay proxy's port in front of nats-server (`nats-remote`). */
  remoteNatsPort: number;
  nc: Awaited<ReturnType<typeof connect>>;
  redisUrl: string;
  kafkaBootstrap: string;
  rabbitUrl: string | undefined;
  /** A database of the same server for the PostgreSQL sink's audit table. */
  sinkDbUrl: string;
}

const slotName = (sink: string) => `lat_${sink.replace('-', '_')}`;

/**
 * Starts one `pgcdc run` per sink of the group (each with its own new slot), four
 * writers at 250 single-row transactions/s each, and a reader per sink; returns,
 * per sink, (seen in the sink) − (commit time) for every change that arrived.
 */
async function measureLatency(group: string[], ctx: LatencyContext): Promise<{ latency: Record<string, number[]>; sent: number }> {
  const { db, natsPort, nc, redisUrl, kafkaBootstrap } = ctx;
  const latency: Record<string, number[]> = Object.fromEntries(group.map((name) => [name, []]));
  const latFile = join(dir, `lat-${group.join('-')}.jsonl`);
  writeFileSync(latFile, '');
  const sinkYaml: Record<string, string> = {
    file: `{ type: file, path: "${latFile}" }`,
    nats: `{ type: nats, servers: ["127.0.0.1:${natsPort}"], subject: "lat.{schema}.{table}", stream: LAT, streamSubjects: ["lat.>"] }`,
    'nats-remote': `{ type: nats, servers: ["127.0.0.1:${ctx.remoteNatsPort}"], subject: "latr.{schema}.{table}", stream: LATR, streamSubjects: ["latr.>"] }`,
    redis: `{ type: redis, url: "${redisUrl}", key: "lat.{schema}.{table}" }`,
    kafka: `{ type: kafka, brokers: ["${kafkaBootstrap.split(',')[0]}"], topic: "lat.{schema}.{table}" }`,
    rabbitmq: `{ type: rabbitmq, url: "${ctx.rabbitUrl}", exchange: lat }`,
    postgres: `{ type: postgres, url: "${ctx.sinkDbUrl}", table: public.lat_events }`,
  };
  const children = group.map((name) => {
    const config = join(dir, `lat-${name}.yaml`);
    // No initial snapshot: the table holds the rows of the groups measured before.
    writeFileSync(config, `source: { url: "${ctx.serverUrl}", slot: ${slotName(name)}, publication: lat_pub }\nsink: ${sinkYaml[name]}\nsnapshot: { mode: never }\nheartbeat: false\n`);
    // Logs kept beside the configs, for when a figure looks wrong.
    const log = openSync(join(dir, `lat-${name}-${group.join('-')}.log`), 'w');
    return spawn(node, [...shebangFlags, bin, 'run', '--config', config, '--log-format', 'json'], { stdio: ['ignore', 'ignore', log] });
  });
  const slotNames = group.map(slotName);
  await waitFor('latency slots', async () => (await db.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = ANY($1)`, [slotNames])).rows[0].n === group.length, 30_000);
  // Readers start after the slots exist: only changes of this group's window count.
  const stops: (() => Promise<void>)[] = [];
  const record = (name: string, now: number, json: string) => {
    const event = JSON.parse(json) as { source: { ts_ms: number }; after: { v: number } | null };
    // Warm-up rows are inserted with v = -1.
    if (event.after !== null && event.after.v >= 0) latency[name]!.push(now - event.source.ts_ms);
  };
  if (group.includes('redis')) {
    // A blocking XREAD loop from the stream's start (the stream is new: only this group writes it).
    let reading = true;
    const reader = new Redis(redisUrl);
    const done = (async () => {
      let last = '0';
      while (reading) {
        const reply = await reader.xread('COUNT', 1000, 'BLOCK', 200, 'STREAMS', 'lat.public.lat', last);
        const now = Date.now();
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            record('redis', now, fields[fields.indexOf('value') + 1]!);
          }
        }
      }
      reader.disconnect();
    })();
    stops.push(async () => { reading = false; await done; });
  }
  if (group.includes('kafka')) {
    // kcat consuming unbuffered, one value per line.
    const kcat = spawn('kcat', ['-b', kafkaBootstrap, '-C', '-u', '-q', '-X', 'fetch.wait.max.ms=5', '-o', 'beginning', '-t', 'lat.public.lat', '-f', '%s\\n'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let rest = '';
    kcat.stdout!.on('data', (chunk: Buffer) => {
      const now = Date.now();
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line) record('kafka', now, line);
    });
    stops.push(async () => { kcat.kill('SIGTERM'); });
  }
  if (group.includes('rabbitmq')) {
    // A queue bound to the sink's exchange, consumed without acks.
    const amqp = (await import('amqplib')).default;
    const connection = await amqp.connect(ctx.rabbitUrl!);
    const channel = await connection.createChannel();
    await channel.assertExchange('lat', 'topic', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'lat', '#');
    await channel.consume(queue, (message) => { if (message) record('rabbitmq', Date.now(), message.content.toString()); }, { noAck: true });
    stops.push(async () => { await connection.close(); });
  }
  if (group.includes('postgres')) {
    // The audit table made ahead (the sink's own CREATE is IF NOT EXISTS), with a
    // trigger that sends each row's event on commit: seen when it is visible.
    const listener = new pg.Client({ connectionString: ctx.sinkDbUrl });
    await listener.connect();
    await listener.query(`CREATE TABLE IF NOT EXISTS public.lat_events (id text PRIMARY KEY, source_schema text, source_table text, op text NOT NULL,
        key jsonb, commit_time timestamptz, tx_id bigint, audit jsonb, event jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
      CREATE OR REPLACE FUNCTION lat_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('lat', NEW.event::text); RETURN NULL; END $$;
      CREATE OR REPLACE TRIGGER lat_notify AFTER INSERT ON public.lat_events FOR EACH ROW EXECUTE FUNCTION lat_notify()`);
    listener.on('notification', (message) => { if (message.payload) record('postgres', Date.now(), message.payload); });
    await listener.query('LISTEN lat');
    stops.push(async () => { await listener.end(); });
  }
  if (group.includes('nats')) {
    const subscription = nc.subscribe('lat.>', { callback: (_error, message) => record('nats', Date.now(), message.string()) });
    stops.push(async () => { subscription.unsubscribe(); });
  }
  if (group.includes('nats-remote')) {
    const subscription = nc.subscribe('latr.>', { callback: (_error, message) => record('nats-remote', Date.now(), message.string()) });
    stops.push(async () => { subscription.unsubscribe(); });
  }
  if (group.includes('file')) {
    // Follow the file as it grows.
    let following = true;
    const done = (async () => {
      const handle = await open(latFile, 'r');
      let rest = '';
      const buffer = Buffer.alloc(1 << 20);
      while (following) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) { await new Promise((r) => setTimeout(r, 1)); continue; }
        const now = Date.now();
        const lines = (rest + buffer.toString('utf8', 0, bytesRead)).split('\n');
        rest = lines.pop()!;
        for (const line of lines) record('file', now, line);
      }
      await handle.close();
    })();
    stops.push(async () => { following = false; await done; });
  }
  // Four writers, 250 transactions/s each, one statement at a time per connection.
  // synchronous_commit=on: with it off (the backlog settings) the walsender waits
  // for the WAL writer (every 200 ms), which would be measured instead of pgcdc.
  const writers = await Promise.all([0, 1, 2, 3].map(async () => {
    const c = new pg.Client({ connectionString: ctx.serverUrl });
    await c.connect();
    await c.query('SET synchronous_commit = on');
    return c;
  }));
  await new Promise((r) => setTimeout(r, 1000)); // readers subscribed
  // The same load runs WARMUP seconds before the measured DURATION: a fresh
  // process compiles its hot path during its first second of traffic, with
  // latency spikes of 10-20 ms that say nothing about the steady state.
  const started = Date.now();
  const since = started + WARMUP * 1000;
  let sent = 0;
  await Promise.all(writers.map(async (writer, w) => {
    for (let k = 0; ; k++) {
      const due = started + (k * 4) + w; // 250/s per writer, staggered
      if (due - started >= (WARMUP + DURATION) * 1000) return;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const measured = due >= since;
      await writer.query('INSERT INTO lat (v) VALUES ($1)', [measured ? k : -1]);
      if (measured) sent++;
    }
  }));
  await new Promise((r) => setTimeout(r, 2000));
  for (const stop of stops) await stop();
  for (const c of writers) await c.end();
  for (const child of children) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
  for (const slot of slotNames) await db.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
  return { latency, sent };
}

/**
 * A pgcdc process's CPU from its start until it streams (`streaming slot` in its
 * output), on a slot with nothing to drain: its start-up, which "CPU per change"
 * of a drain also carries (0.3-0.6 s, about 1 µs per change at N=200,000).
 */
async function startupCpu(args: string[], cwd: string): Promise<number> {
  const child = spawn(node, [...shebangFlags, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let output = '';
  const seconds = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'streaming slot' from pgcdc ${args[0]} within 60 s: ${output.slice(-500)}`)), 60_000);
    let streaming = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (streaming || !/streaming slot/.test(output)) return;
      streaming = true;
      clearTimeout(timer);
      resolve(cpuSeconds(child.pid!));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`pgcdc ${args[0]} exited (${code}) before streaming: ${output.slice(-500)}`)); });
  });
  child.removeAllListeners('exit');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return seconds;
}

/**
 * CPU per record of a protocol's or client's least work, with nothing of pgcdc
 * around it (bench/floors/*.mjs print `{microsPerRecord}` as their last line):
 * a bound on what `run` into that sink can cost beyond run → file.
 */
interface Floor { microsPerRecord: number; mainThreadMicrosPerRecord?: number }
function measureFloor(script: string, args: string[]): Floor {
  const output = execFileSync(node, [`${root}bench/floors/${script}`, ...args], { encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop()!) as Floor;
}

async function main(): Promise<void> {
  execFileSync(`${root}node_modules/.bin/tsc`, ['-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
  const epg15 = ((await import('epg15')) as { default: never }).default;
  const server = await startEmbeddedPostgres(epg15, { label: 'bench-sinks', extraFlags: ['-c', 'shared_buffers=512MB', '-c', 'synchronous_commit=off', '-c', 'autovacuum=off', '-c', 'max_wal_size=8GB', '-c', 'checkpoint_timeout=1h'] });
  const natsPort = await freePort();
  const nats = startNats(natsPort);
  const remoteNats = await startTcpProxy(natsPort, { delayMs: REMOTE_DELAY_MS });
  const [redisServer, kafka, rabbit] = await Promise.all([startRedis(), startKafkaMock(), SINKS.has('rabbitmq') ? startRabbitMq() : Promise.resolve(undefined as TestRabbitMq | undefined)]);
  const redis = new Redis(redisServer.url);
  const db = new pg.Client({ connectionString: server.url() });
  const results: string[] = [];
  try {
    await db.connect();
    await db.query(readFileSync(`${root}bench/workload.sql`, 'utf8'));
    for (const slot of ['b_warm', 'b_tail', 'b_tail_last', 'b_file', 'b_nats', 'b_redis', 'b_kafka', 'b_rabbitmq', 'b_postgres']) await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const nUpdate = Math.floor((N * 2) / 5);
    const nDelete = Math.floor(N / 5);
    const expected = N + nUpdate + nDelete;
    await db.query(`CALL bench_w1(${N}, 100, ${nUpdate}, ${nDelete})`);
    const end = (await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
    await db.query('CHECKPOINT');
    console.error(`backlog: ${expected} changes, end ${end}`);
    await db.query('CREATE DATABASE bench_sink');
    const sinkDbUrl = server.url().replace(/\/postgres$/, '/bench_sink');
    // Made after the workload: nothing to drain, so their CPU to streaming is start-up alone.
    for (const slot of ['s_tail', 's_file', 's_nats', 's_redis', 's_kafka', 's_rabbitmq', 's_postgres']) await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const startup: Record<string, number> = {};

    // 1. throughput
    // A drain first that is not measured: the first drain after the workload
    // reads the WAL cold and is the slow one (docs/benchmarks.md), and `tail`,
    // every ratio's reference, would otherwise always be that first drain.
    execFileSync('bash', ['-c', `cd ${dir} && ${node} ${shebangFlags.join(' ')} ${bin} tail '${server.url()}' --slot b_warm --publication bench_pub --no-create-slot --format json --until-lsn ${end} --no-heartbeat -q > /dev/null`]);
    await db.query(`SELECT pg_drop_replication_slot('b_warm')`);
    /** One measured `tail` drain of `slot`: wall seconds, CPU seconds, context switches. */
    const drainTail = (slot: string) => {
      const t0 = process.hrtime.bigint();
      execFileSync('bash', ['-c', `cd ${dir} && /usr/bin/time -f '%U %S %w %c' -o ${dir}/tail.time ${node} ${[...shebangFlags, ...PGCDC_NODE_FLAGS].join(' ')} ${bin} tail '${server.url()}' --slot ${slot} --publication bench_pub --no-create-slot --format json --until-lsn ${end} --no-heartbeat -q > /dev/null`]);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const [user, system, voluntary, involuntary] = readFileSync(`${dir}/tail.time`, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      return { seconds, cpu: user! + system!, switches: { voluntary: voluntary!, involuntary: involuntary! } };
    };
    const tailFirst = drainTail('b_tail');
    const rates: Record<string, number> = { tail: expected / tailFirst.seconds };
    const cpu: Record<string, Map<string, number>> = {};
    cpu.tail = new Map([[PGCDC, tailFirst.cpu]]);
    // How often each pgcdc process waited (its event loop blocked) and was preempted
    // (docs/benchmarks.md, fourteenth stop: what a slow broker does to a pipeline).
    const switches: Record<string, { voluntary: number; involuntary: number }> = { tail: tailFirst.switches };
    startup.tail = await startupCpu(['tail', server.url(), '--slot', 's_tail', '--publication', 'bench_pub', '--no-create-slot', '--no-heartbeat', '--format', 'json'], dir);

    const runOnce = async (name: string, sinkYaml: string, done: () => Promise<boolean>, statusInterval?: string) => {
      if (!SINKS.has(name)) return;
      const config = join(dir, `${name}.yaml`);
      const idleConfig = join(dir, `${name}-startup.yaml`);
      for (const [path, slot] of [[config, `b_${name}`], [idleConfig, `s_${name}`]] as const) {
        writeFileSync(path, `source: { url: "${server.url()}", slot: ${slot}, publication: bench_pub, createSlot: false${statusInterval ? `, statusInterval: ${statusInterval}` : ''} }\nsink: ${sinkYaml}\nheartbeat: false\noutbox: false\naudit: false\n`);
      }
      startup[name] = await startupCpu(['run', '--config', idleConfig, '--log-format', 'json'], dir);
      const started = process.hrtime.bigint();
      const cpuBefore = cpuByCommand();
      // Output kept beside the config (node flags such as --trace-gc print to stdout).
      const output = openSync(join(dir, `${name}.out`), 'w');
      const child = spawn(node, [...shebangFlags, ...PGCDC_NODE_FLAGS, bin, 'run', '--config', config, '--log-format', 'json'], { stdio: ['ignore', output, output], cwd: dir });
      await waitFor(`${name} to hold every change`, done, 600_000);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      cpu[name] = cpuDelta(cpuBefore, cpuByCommand());
      // pgcdc's own CPU by its pid: by command name it would also count this
      // benchmark's process (both are node, named MainThread), which polls the
      // sink meanwhile (it counts the file's lines byte by byte).
      cpu[name].set(PGCDC, cpuSeconds(child.pid!));
      switches[name] = contextSwitches(child.pid!);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rates[name] = expected / seconds;
    };
    const file = join(dir, 'events.jsonl');
    const countLines = lineCounter(file);
    await runOnce('file', `{ type: file, path: "${file}" }`, async () => (await countLines()) >= expected);
    const nc = await connect({ servers: `127.0.0.1:${natsPort}` });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'BENCH', subjects: ['pgcdc.>'], max_bytes: 4 * 1024 ** 3 });
    await runOnce('nats', `{ type: nats, servers: ["127.0.0.1:${natsPort}"] }`, async () => (await jsm.streams.info('BENCH')).state.messages >= expected);
    await runOnce('redis', `{ type: redis, url: "${redisServer.url}" }`, async () => (await redis.xlen('pgcdc.public.bench_items')) >= expected);
    await runOnce('kafka', `{ type: kafka, brokers: ["${kafka.bootstrap.split(',')[0]}"] }`, async () => kafkaEndOffsets(kafka.bootstrap, 'pgcdc.public.bench_items') >= expected);
    // Each protocol's (Kafka: the client's) own cost per record, with nothing of pgcdc around it.
    const floors: Record<string, Floor> = {};
    if (SINKS.has('nats')) {
      await jsm.streams.add({ name: 'FLOOR', subjects: ['floor.>'], max_bytes: 4 * 1024 ** 3 });
      floors.nats = measureFloor('nats-protocol.mjs', ['--port', String(natsPort), '--subject', 'floor.w1', '--count', String(expected)]);
      await jsm.streams.delete('FLOOR');
    }
    if (SINKS.has('redis')) {
      floors.redis = measureFloor('redis-protocol.mjs', ['--port', new URL(redisServer.url).port, '--key', 'floor.w1', '--count', String(expected)]);
      await redis.del('floor.w1');
    }
    if (SINKS.has('kafka')) floors.kafka = measureFloor('kafka-client.mjs', ['--brokers', kafka.bootstrap.split(',')[0]!, '--topic', 'floor.kafka', '--count', String(expected)]);
    if (rabbit !== undefined) {
      // A durable queue bound to the sink's exchange holds every message; its depth is the count.
      const amqp = (await import('amqplib')).default;
      const connection = await amqp.connect(rabbit.url);
      const channel = await connection.createChannel();
      await channel.assertExchange('pgcdc', 'topic', { durable: true });
      await channel.assertQueue('bench', { durable: true });
      await channel.bindQueue('bench', 'pgcdc', '#');
      await runOnce('rabbitmq', `{ type: rabbitmq, url: "${rabbit.url}" }`, async () => (await channel.checkQueue('bench')).messageCount >= expected);
      await channel.deleteQueue('bench');
      if (SINKS.has('rabbitmq')) {
        // The floor's messages go to a durable queue of their own, as the sink's did.
        await channel.assertQueue('floor', { durable: true });
        await channel.bindQueue('floor', 'pgcdc', 'floor.#');
        floors.rabbitmq = measureFloor('amqp-protocol.mjs', ['--port', new URL(rabbit.url).port, '--exchange', 'pgcdc', '--routing-key', 'floor.w1', '--count', String(expected)]);
        await channel.deleteQueue('floor');
      }
      await connection.close();
    }
    // The events table grows by one row per change; counting it every 100 ms would
    // cost the server more than the sink does. The slot's confirmed position
    // (acknowledged every 200 ms, only for what the sink committed) reaching the
    // end of the workload says the same.
    await runOnce('postgres', `{ type: postgres, url: "${sinkDbUrl}" }`, async () => (await db.query<{ done: boolean }>(`SELECT confirmed_flush_lsn >= $1::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = 'b_postgres'`, [end])).rows[0]?.done === true, '200ms');
    // \`tail\` again, after the sinks: the reference is the mean of a drain before
    // them and one after, so that a slow or fast period of the machine at the
    // start does not tilt every ratio (a single drain first was 7.0-10.5 µs per
    // change in runs whose consumer comparison measured 7.0-7.2: docs/benchmarks.md).
    const tailLast = drainTail('b_tail_last');
    rates.tail = (2 * expected) / (tailFirst.seconds + tailLast.seconds);
    switches.tail = { voluntary: (tailFirst.switches.voluntary + tailLast.switches.voluntary) / 2, involuntary: (tailFirst.switches.involuntary + tailLast.switches.involuntary) / 2 };
    cpu.tail = new Map([[PGCDC, (tailFirst.cpu + tailLast.cpu) / 2]]);
    const tailNote = `tail's two drains, before and after the sinks: ${((tailFirst.cpu * 1e6) / expected).toFixed(1)} and ${((tailLast.cpu * 1e6) / expected).toFixed(1)} µs per change (start-up included); the reference is their mean.`;
    results.push(`## pgcdc run throughput, draining ${expected} changes (W1 N=${N}), same run\n`);
    results.push('| consumer | changes/s | vs tail > /dev/null |', '|---|---:|---:|');
    for (const [name, label] of [['tail', 'pgcdc tail --format json > /dev/null'], ['file', 'pgcdc run → file (fsync per batch)'], ['nats', 'pgcdc run → NATS JetStream (PubAck per record)'], ['redis', 'pgcdc run → Redis Streams (XADD)'], ['kafka', 'pgcdc run → Kafka mock cluster (acks=all)'], ['rabbitmq', 'pgcdc run → RabbitMQ (publisher confirms, durable queue)'], ['postgres', 'pgcdc run → PostgreSQL (audit table, same server)']] as const) {
      if (rates[name] === undefined) continue;
      results.push(`| ${label} | ${Math.round(rates[name]!).toLocaleString('en-US')} | ${(rates[name]! / rates.tail!).toFixed(2)} |`);
    }
    results.push('', tailNote);
    // CPU per change, by process: pgcdc (node), PostgreSQL (walsender and the rest), the broker.
    results.push('', 'CPU µs per change during each run (the machine has 2 CPUs; "without start-up": less the pgcdc process\'s CPU until it streams, measured on an idle slot):\n', '| run | pgcdc (node) | start-up s | pgcdc without start-up | × tail, without start-up | postgres | broker | total | pgcdc waits per 1,000 changes | pgcdc preempted per 1,000 |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const perThousand = (count: number | undefined) => (count === undefined ? '—' : (count * 1000 / expected).toFixed(1));
    for (const [name, broker] of [['tail', ''], ['file', ''], ['nats', 'nats-server'], ['redis', 'redis-server'], ['kafka', 'kcat'], ['rabbitmq', 'beam.smp'], ['postgres', '']] as const) {
      const used = cpu[name];
      if (used === undefined) continue;
      const us = (command: string) => ((used.get(command) ?? 0) * 1e6) / expected;
      const pgcdcUs = us(PGCDC);
      const brokerUs = broker ? us(broker) : 0;
      const steadyUs = pgcdcUs - ((startup[name] ?? 0) * 1e6) / expected;
      const tailSteadyUs = (((cpu.tail!.get(PGCDC) ?? 0) - (startup.tail ?? 0)) * 1e6) / expected;
      results.push(`| ${name} | ${pgcdcUs.toFixed(1)} | ${(startup[name] ?? 0).toFixed(2)} | ${steadyUs.toFixed(1)} | ${(steadyUs / tailSteadyUs).toFixed(2)} | ${us('postgres').toFixed(1)} | ${broker ? brokerUs.toFixed(1) : '—'} | ${(pgcdcUs + us('postgres') + brokerUs).toFixed(1)} | ${perThousand(switches[name]?.voluntary)} | ${perThousand(switches[name]?.involuntary)} |`);
    }
    if (Object.keys(floors).length > 0 && cpu.tail !== undefined) {
      const steady = (name: string) => (((cpu[name]?.get(PGCDC) ?? NaN) - (startup[name] ?? 0)) * 1e6) / expected;
      const tailUs = steady('tail');
      const fileRatio = steady('file') / tailUs;
      results.push('', 'Each protocol\'s own least cost per record (bench/floors/: W1-sized records prepared once, sent as the sink sends a write, the broker\'s answers counted: NATS PubAcks, Redis replies, RabbitMQ confirms; Kafka: its client, @confluentinc/kafka-javascript, with the sink\'s settings), and what it bounds: `run` into that sink costs at least what run → file costs (everything pgcdc does for any sink) plus it.\n', '| sink | floor µs per record | of it on the JS thread | floor ÷ tail | bound: run → file + floor, × tail | measured × tail |', '|---|---:|---:|---:|---:|---:|');
      for (const [name, floor] of Object.entries(floors)) {
        const share = floor.microsPerRecord / tailUs;
        results.push(`| ${name} | ${floor.microsPerRecord.toFixed(1)} | ${floor.mainThreadMicrosPerRecord?.toFixed(1) ?? '—'} | ${share.toFixed(2)} | ${Number.isNaN(fileRatio) ? '—' : (fileRatio + share).toFixed(2)} | ${(steady(name) / tailUs).toFixed(2)} |`);
      }
    }

    // The drained backlog is not kept: brokers holding 250 MB from phase 1 measure slower.
    await jsm.streams.delete('BENCH').catch(() => undefined);
    await redis.del('pgcdc.public.bench_items');
    // Phase 1 left hundreds of MB of dirty pages (the file, the brokers' stores);
    // their writeback stalls every fsync and file write for seconds afterwards,
    // which is the disk settling, not the steady state measured below.
    execFileSync('sync');
    // 2. latency at a steady 1,000 transactions/s, one group of sinks at a time
    await db.query('CREATE TABLE lat (id bigserial PRIMARY KEY, v int)');
    await db.query('CREATE PUBLICATION lat_pub FOR TABLE lat');
    results.push('', `## Commit-to-sink latency at a steady 1,000 transactions/s for ${DURATION} s (after ${WARMUP} s of the same load, not counted), each group of sinks measured on its own\n`);
    results.push('| sink | measured beside | received | sent | p50 ms | p99 ms |', '|---|---|---:|---:|---:|---:|');
    const busy: string[] = [];
    for (const group of LATENCY_GROUPS) {
      const cpuBefore = cpuByCommand();
      const started = Date.now();
      const measured = await measureLatency(group, { db, serverUrl: server.url(), natsPort, remoteNatsPort: remoteNats.port, nc, redisUrl: redisServer.url, kafkaBootstrap: kafka.bootstrap, rabbitUrl: rabbit?.url, sinkDbUrl });
      const seconds = (Date.now() - started) / 1000;
      for (const name of group) {
        const values = measured.latency[name]!;
        results.push(`| ${name} | ${group.filter((g) => g !== name).join(', ') || '—'} | ${values.length} | ${measured.sent} | ${pct(values, 50)} | ${pct(values, 99)} |`);
      }
      // Where the two CPUs went meanwhile (pgcdc processes that exited are not counted: see cpuDelta).
      const used = [...cpuDelta(cpuBefore, cpuByCommand())].filter(([, s]) => s / seconds >= 0.01).sort((a, b) => b[1] - a[1]);
      busy.push(`- ${group.join('+')}: ${used.map(([command, s]) => `${command} ${(s / seconds).toFixed(2)}`).join(', ')}`);
    }
    results.push('', `Commit times are millisecond timestamps from the server (same machine); latency includes pgcdc reading, the sink confirming, and the reader seeing it. nats-remote: the same nats-server behind a proxy holding every chunk ${REMOTE_DELAY_MS} ms each way (the reader subscribes directly).`);
    results.push('', 'CPUs busy during each latency group, by process name (1.00 = one CPU; the benchmark itself, with its readers, is `node`):', ...busy);
    await nc.close();
  } finally {
    await db.end().catch(() => undefined);
    nats.kill('SIGTERM');
    await remoteNats.close();
    redis.disconnect();
    await redisServer.dispose();
    await kafka.dispose();
    await rabbit?.dispose();
    await server.stop();
  }
  console.log(results.join('\n'));
}

await main();
