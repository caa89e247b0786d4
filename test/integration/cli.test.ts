/** The pgcdc command line against a real server, run as a child process. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatLsn, parseLsn } from '../../src/core/lsn.ts';
import { errorLines, runCli, startCli, waitForOutput, waitForStreaming } from '../support/cli.ts';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { confirmedLsn, currentWalLsn } from '../support/slots.ts';
import { eventually } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
const confirmed = (slot: string) => confirmedLsn(server, slot);

before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`CREATE TABLE users (id int PRIMARY KEY, name text, email text);
    CREATE TABLE other (id int PRIMARY KEY);
    CREATE PUBLICATION cli FOR TABLE users;
    CREATE ROLE plain LOGIN PASSWORD 'plainpw';`);
});
after(async () => { await server?.stop(); });

describe('pgcdc tail', () => {
  test('--format json prints one Debezium event per line; --max-events acknowledges only whole printed transactions', async () => {
    await runCli(['slot', 'create', server.url(), '--slot', 'maxev']);
    await server.query(`INSERT INTO users VALUES (1, 'a'), (2, 'b')`);
    const afterFirst = await currentWalLsn(server);
    await server.query(`INSERT INTO users VALUES (3, 'c'), (4, 'd')`);
    const run = await runCli(['tail', server.url(), '--slot', 'maxev', '--publication', 'cli', '--format', 'json', '--max-events', '3', '--status-interval', '0.1']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((e) => e.after.id), [1, 2, 3]);
    assert.equal(lines[0].op, 'c');
    assert.equal(lines[0].source.connector, 'postgresql');
    const slotAt = parseLsn((await confirmed('maxev'))!);
    assert.ok(slotAt >= parseLsn(afterFirst!) - 200n, 'the first transaction was acknowledged');
    const rerun = await runCli(['tail', server.url(), '--slot', 'maxev', '--publication', 'cli', '--format', 'json', '--max-events', '2']);
    assert.deepEqual(rerun.stdout.trim().split('\n').map((l) => JSON.parse(l).after.id), [3, 4], 'the cut transaction is printed again, whole; nothing lost');
  });

  test('--until-lsn stops once everything up to the position is printed', async () => {
    await runCli(['slot', 'create', server.url(), '--slot', 'untillsn']);
    await server.query(`UPDATE users SET email = 'x@example.com' WHERE id = 1`);
    const lsn = (await server.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0]!.lsn;
    await server.query(`DELETE FROM users WHERE id = 4`);
    const run = await runCli(['tail', server.url(), '--slot', 'untillsn', '--publication', 'cli', '--format', 'json', '--until-lsn', lsn!]);
    assert.equal(run.code, 0, run.stderr);
    const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.op), ['u'], 'the delete after the position is not printed');
  });

  test('--memory-budget bounds what an open transaction holds (the rest spills, printed whole and in order); a --spill-dir that cannot be written is one line, nothing printed or acknowledged', async () => {
    await server.query(`CREATE TABLE wide (id int PRIMARY KEY, body text); CREATE PUBLICATION spillpub FOR TABLE wide`);
    for (const slot of ['spill_budget', 'spill_default', 'spill_baddir']) await runCli(['slot', 'create', server.url(), '--slot', slot]);
    const createdAt = await confirmed('spill_baddir');
    // One transaction of 3,000 rows, about 150 bytes each: several times a 64 KiB budget.
    await server.query(`INSERT INTO wide SELECT g, repeat('x', 120) || g FROM generate_series(1, 3000) g`);
    const peakOf = async (slot: string, extra: string[]) => {
      const port = await freePort();
      const running = startCli(['tail', server.url(), '--slot', slot, '--publication', 'spillpub', '--no-heartbeat', '--format', 'json', '--metrics-port', String(port), '--until-idle', '3', ...extra]);
      await waitForOutput(running, (out) => out.includes('"id":3000,'), 30_000);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const result = await running.done;
      assert.equal(result.code, 0, result.stderr);
      const ids = running.stdout().trim().split('\n').map((l) => JSON.parse(l).after.id as number);
      assert.deepEqual(ids, Array.from({ length: 3000 }, (_, i) => i + 1), `${slot}: every row once, in order`);
      return Number(new RegExp(`pgcdc_buffered_bytes_peak\\{slot="${slot}"\\} (\\d+)`).exec(metrics)?.[1]);
    };
    const spillDir = mkdtempSync(join(tmpdir(), 'pgcdc-cli-spill-'));
    const budget = 64 * 1024;
    const bounded = await peakOf('spill_budget', ['--memory-budget', '64KiB', '--spill-dir', spillDir]);
    const unbounded = await peakOf('spill_default', []);
    // One change may take the peak past the budget, just before the spill it starts.
    assert.ok(bounded > budget / 2 && bounded <= budget + 4096, `peak ${bounded} bytes with a 64 KiB budget`);
    assert.ok(unbounded > 4 * budget, `peak ${unbounded} bytes with the default budget: the whole transaction in memory`);
    const missing = join(spillDir, 'missing', 'dir');
    const failed = await runCli(['tail', server.url(), '--slot', 'spill_baddir', '--publication', 'spillpub', '--no-heartbeat', '--format', 'json', '--until-idle', '3', '--memory-budget', '64KiB', '--spill-dir', missing]);
    assert.notEqual(failed.code, 0);
    const lines = errorLines(failed.stderr);
    assert.equal(lines.length, 1, failed.stderr);
    assert.match(lines[0]!, /PGCDC_SPILL_IO/);
    assert.ok(lines[0]!.includes(missing), lines[0]);
    assert.equal(failed.stdout, '', 'nothing of the transaction was printed');
    assert.equal(await confirmed('spill_baddir'), createdAt, 'nothing acknowledged');
  });

  test('pretty format reads at a glance: time, transaction, operation, table, key, columns, old → new', async () => {
    await server.query('ALTER TABLE users REPLICA IDENTITY FULL');
    const running = startCli(['tail', server.url(), '--slot', 'pretty', '--publication', 'cli', '--temporary', '--format', 'pretty', '--until-idle', '2']);
    await waitForStreaming(running);
    await server.query(`INSERT INTO users VALUES (10, 'zed', 'z@example.com')`);
    await server.query(`UPDATE users SET name = 'zoe' WHERE id = 10`);
    await server.query(`DELETE FROM users WHERE id = 10`);
    await server.query(`SELECT pg_logical_emit_message(false, 'log', 'hello there')`);
    const result = await running.done;
    await server.query('ALTER TABLE users REPLICA IDENTITY DEFAULT');
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 4, result.stdout);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} tx \d+ +INSERT +public\.users \[id=10\] name='zed' email='z@example\.com'$/);
    assert.match(lines[1]!, /UPDATE +public\.users \[id=10\] name: 'zed' → 'zoe'$/);
    assert.match(lines[2]!, /DELETE +public\.users \[id=10\]/);
    assert.match(lines[3]!, /MESSAGE +log \(non-transactional\) hello there$/);
    assert.equal(await confirmed('pretty'), undefined, 'a temporary slot is gone after exit');
  });

  test('Ctrl-C stops cleanly and acknowledges exactly what was printed', async () => {
    await runCli(['slot', 'create', server.url(), '--slot', 'sigint']);
    const running = startCli(['tail', server.url(), '--slot', 'sigint', '--publication', 'cli', '--format', 'json', '--status-interval', '60']);
    await waitForStreaming(running);
    await server.query(`INSERT INTO users VALUES (20, 'sig')`);
    await waitForOutput(running, (out) => out.includes('"sig"'));
    const printedUpTo = await currentWalLsn(server);
    running.child.kill('SIGINT');
    const result = await running.done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /stopped \(interrupted\) after 1 events/);
    const slotAt = parseLsn((await confirmed('sigint'))!);
    assert.ok(slotAt >= parseLsn(printedUpTo!) - 100n, `acknowledged ${formatLsn(slotAt)} covers the printed transaction`);
    await server.query(`INSERT INTO users VALUES (21, 'after')`);
    const next = await runCli(['tail', server.url(), '--slot', 'sigint', '--publication', 'cli', '--format', 'json', '--max-events', '1']);
    assert.equal(JSON.parse(next.stdout).after.id, 21, 'nothing printed before Ctrl-C comes again');
  });

  test('--tables, --ops and --prefixes filter what is printed', async () => {
    const running = startCli(['tail', server.url(), '--slot', 'filters', '--publication', 'cli', '--temporary', '--format', 'json', '--ops', 'delete,message', '--prefixes', 'keep', '--until-idle', '2']);
    await waitForStreaming(running);
    await server.query(`INSERT INTO users VALUES (30, 'f')`);
    await server.query(`SELECT pg_logical_emit_message(false, 'drop', 'no')`);
    await server.query(`SELECT pg_logical_emit_message(false, 'keep', 'yes')`);
    await server.query(`DELETE FROM users WHERE id = 30`);
    const result = await running.done;
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.op === 'm' ? `m:${e.message.content}` : e.op), ['m:yes', 'd']);
  });
});

describe('pgcdc slot', () => {
  test('list shows name, plugin, database, active, confirmed LSN, retained WAL and wal_status; drop removes', async () => {
    await runCli(['slot', 'create', server.url(), '--slot', 'listed']);
    const list = await runCli(['slot', 'list', server.url()]);
    assert.equal(list.code, 0, list.stderr);
    const header = list.stdout.split('\n')[0]!;
    assert.match(header, /SLOT +PLUGIN +DATABASE +ACTIVE +CONFIRMED LSN +RETAINED WAL +WAL STATUS/);
    const row = list.stdout.split('\n').find((l) => l.startsWith('listed '))!;
    assert.match(row, /^listed +pgoutput +postgres +no +[0-9A-F]+\/[0-9A-F]+ +\d+ (bytes|kB|MB) +reserved +(no +no|- +-)$/);
    const json = await runCli(['slot', 'list', server.url(), '--json']);
    const listed = json.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((s) => s.name === 'listed');
    assert.equal(typeof listed.retainedWalBytes, 'number');
    const drop = await runCli(['slot', 'drop', server.url(), '--slot', 'listed']);
    assert.equal(drop.code, 0);
    assert.equal(await confirmed('listed'), undefined);
  });
});

describe('errors are one line that says what to do, with stable codes and exit codes', () => {
  const expectError = async (args: string[], code: string, exit: number, hint: RegExp, env: NodeJS.ProcessEnv = {}) => {
    const run = await runCli(args, env);
    assert.equal(run.code, exit, `exit code for ${code}: ${run.stderr}`);
    const lines = errorLines(run.stderr);
    assert.equal(lines.length, 1, `exactly one error line: ${run.stderr}`);
    assert.ok(lines[0]!.includes(code), lines[0]);
    assert.match(lines[0]!, hint);
    assert.doesNotMatch(run.stderr, /pgcdc-test-pw|plainpw/, 'no password in errors');
    return run;
  };
  test('pgcdc read of a file that is not there, or a directory', async () => {
    await expectError(['read', '/nonexistent/events.log'], 'PGCDC_BAD_INPUT', 6, /cannot read \/nonexistent\/events\.log: no such file; give a file written by pg_recvlogical, or - for stdin/);
    await expectError(['read', tmpdir()], 'PGCDC_BAD_INPUT', 6, /: it is a directory/);
  });
  test('bad URL', async () => { await expectError(['tail', 'mysql://x@y/z'], 'PGCDC_BAD_URL', 2, /postgresql:\/\/user:password@host/); });
  test('host unreachable', async () => { await expectError(['tail', `postgresql://postgres:pw@127.0.0.1:${await freePort()}/postgres`], 'PGCDC_UNREACHABLE', 3, /check host and port/); });
  test('wrong password', async () => { await expectError(['tail', server.url().replace('pgcdc-test-pw', 'wrong')], 'PGCDC_AUTH_FAILED', 3, /check the password/); });
  test('missing database', async () => { await expectError(['slot', 'list', server.url('nope')], 'PGCDC_DATABASE_MISSING', 4, /database name/); });
  test('missing REPLICATION privilege', async () => { await expectError(['tail', server.url().replace('postgres:pgcdc-test-pw', 'plain:plainpw')], 'PGCDC_NO_REPLICATION_PRIVILEGE', 4, /ALTER ROLE plain WITH REPLICATION/); });
  test('missing slot with --no-create-slot', async () => { await expectError(['tail', server.url(), '--slot', 'absent', '--publication', 'cli', '--no-create-slot'], 'PGCDC_SLOT_MISSING', 5, /pgcdc slot create --slot absent/); });
  test('slot in use by another process', async () => {
    const holder = startCli(['tail', server.url(), '--slot', 'busy', '--publication', 'cli', '--format', 'json']);
    await waitForStreaming(holder);
    try {
      await expectError(['tail', server.url(), '--slot', 'busy', '--publication', 'cli'], 'PGCDC_SLOT_IN_USE', 5, /in use by process \d+; stop that consumer/);
    } finally {
      holder.child.kill('SIGINT');
      await holder.done;
    }
  });
  test('publication without the listed table', async () => { await expectError(['tail', server.url(), '--slot', 'pubmiss', '--publication', 'cli', '--tables', 'public.other'], 'PGCDC_PUBLICATION_MISSING', 4, /ALTER PUBLICATION "cli" ADD TABLE "public"."other"/); });
  test('table that does not exist', async () => { await expectError(['tail', server.url(), '--slot', 'pubmiss', '--publication', 'newpub', '--tables', 'public.ghost'], 'PGCDC_TABLE_MISSING', 4, /check --tables/); });
  test('arguments are checked before anything is created: a typo leaves no slot and no publication behind', async () => {
    await expectError(['tail', server.url(), '--slot', 'typo', '--publication', 'typopub', '--ops', 'inserts'], 'PGCDC_BAD_ARGUMENT', 2, /unknown operation "inserts"/);
    await expectError(['tail', server.url(), '--slot', 'typo', '--publication', 'typopub', '--transform', '/nonexistent/t.ts'], 'PGCDC_BAD_ARGUMENT', 2, /cannot load transform \/nonexistent\/t\.ts/);
    assert.equal(await confirmed('typo'), undefined, 'no slot was created');
    assert.deepEqual(await server.query(`SELECT pubname FROM pg_publication WHERE pubname = 'typopub'`), [], 'no publication was created');
  });
  test('bad option values', async () => {
    await expectError(['tail', server.url(), '--max-events', 'many'], 'PGCDC_BAD_ARGUMENT', 2, /--max-events expects a positive whole number/);
    await expectError(['tail', server.url(), '--until-lsn', 'xyz'], 'PGCDC_BAD_ARGUMENT', 2, /--until-lsn expects an LSN like 0\/16B3C8/);
    for (const size of ['12XB', '0', '-1MiB', '16 MB']) await expectError(['tail', server.url(), '--memory-budget', size], 'PGCDC_BAD_ARGUMENT', 2, /--memory-budget expects a size like 16MiB, 512KiB or 1GiB/);
    await expectError(['tail', server.url(), '--slot', 'Bad-Name'], 'PGCDC_BAD_ARGUMENT', 2, /invalid slot name/);
  });
  test('wal_level not logical', async () => {
    const replica = await startPostgres(latestMajor(), ['-c', 'wal_level=replica']);
    try {
      await expectError(['tail', replica.url()], 'PGCDC_WAL_LEVEL', 4, /ALTER SYSTEM SET wal_level = logical; and restart/);
      const list = await runCli(['slot', 'list', replica.url()]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stderr, /warning: this server has wal_level=replica; logical replication slots need wal_level=logical/);
    } finally {
      await replica.stop();
    }
  });
  test("libpq's other forms: keyword/value and a unix socket directory as host (both forms); a missing socket is one line", async () => {
    await server.query(`INSERT INTO users VALUES (60, 'sock')`).catch(() => undefined);
    const keywords = `host=${server.dataDir} port=${server.port} dbname=postgres user=postgres password='pgcdc-test-pw'`;
    const viaKeywords = await runCli(['slot', 'list', keywords]);
    assert.equal(viaKeywords.code, 0, viaKeywords.stderr);
    assert.match(viaKeywords.stdout, /^(SLOT|no replication slots)/);
    const socketUrl = `postgresql:///postgres?host=${encodeURIComponent(server.dataDir)}&port=${server.port}&user=postgres&password=pgcdc-test-pw`;
    const created = await runCli(['slot', 'create', socketUrl, '--slot', 'over_socket']);
    assert.equal(created.code, 0, created.stderr);
    await server.query(`INSERT INTO users VALUES (61, 'socket')`);
    const streamed = await runCli(['tail', keywords, '--slot', 'over_socket', '--publication', 'cli', '--format', 'json', '--max-events', '1', '--no-heartbeat']);
    assert.equal(streamed.code, 0, streamed.stderr);
    assert.equal(JSON.parse(streamed.stdout).after.id, 61, 'replication over the unix socket, keyword form');
    // Credentials in the URL and no host in it: the socket directory comes from the query (libpq takes this form).
    const credentialsNoHost = await runCli(['slot', 'list', `postgresql://postgres:pgcdc-test-pw@/postgres?host=${encodeURIComponent(server.dataDir)}&port=${server.port}`]);
    assert.equal(credentialsNoHost.code, 0, credentialsNoHost.stderr);
    assert.match(credentialsNoHost.stdout, /^over_socket\s/m);
    const missing = await runCli(['slot', 'list', `host=/nonexistent/dir port=${server.port} dbname=postgres`]);
    assert.equal(missing.code, 3);
    assert.match(errorLines(missing.stderr).join('\n'), /PGCDC_UNREACHABLE: no PostgreSQL socket at \/nonexistent\/dir\/\.s\.PGSQL\.\d+ .*check host \(the socket's directory\) and port/);
    for (const run of [viaKeywords, streamed, credentialsNoHost]) assert.doesNotMatch(run.stderr, /pgcdc-test-pw/);
  });
  test('connection from PG* variables and DATABASE_URL', async () => {
    const viaEnv = await runCli(['slot', 'list'], { DATABASE_URL: '', PGHOST: '127.0.0.1', PGPORT: String(server.port), PGUSER: 'postgres', PGPASSWORD: 'pgcdc-test-pw', PGDATABASE: 'postgres' });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /SLOT/);
    assert.match(viaEnv.stderr, new RegExp(`connecting to postgresql://postgres@127\\.0\\.0\\.1:${server.port}/postgres \\(no URL given: from PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD`));
    const viaUrl = await runCli(['slot', 'list'], { DATABASE_URL: server.url() });
    assert.equal(viaUrl.code, 0, viaUrl.stderr);
    assert.match(viaUrl.stderr, /connecting to postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres \(from DATABASE_URL\)/);
    const named = await runCli(['slot', 'list', server.url()], { DATABASE_URL: '' });
    assert.doesNotMatch(named.stderr, /connecting to/, 'no notice when the URL is given');
    for (const run of [viaEnv, viaUrl]) assert.doesNotMatch(run.stderr, /pgcdc-test-pw/);
  });
});

describe('pgcdc emit', () => {
  test('writes a transactional or non-transactional message and prints its LSN; bad input is one line', async () => {
    await runCli(['slot', 'create', server.url(), '--slot', 'emitted']);
    const tx = await runCli(['emit', server.url(), '--prefix', 'greeting', 'Hello World!']);
    assert.equal(tx.code, 0, tx.stderr);
    assert.match(tx.stdout, /^[0-9A-F]+\/[0-9A-F]+\n$/);
    const nontx = await runCli(['emit', '--prefix', 'log', '--non-transactional', 'from env'], { DATABASE_URL: server.url() });
    assert.equal(nontx.code, 0, nontx.stderr);
    const read = await runCli(['tail', server.url(), '--slot', 'emitted', '--publication', 'cli', '--format', 'json', '--max-events', '2']);
    const events = read.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => [e.message.prefix, e.message.content, e.message.transactional]), [['greeting', 'Hello World!', true], ['log', 'from env', false]]);
    const bad = await runCli(['emit', server.url(), '--prefix', '', 'x']);
    assert.equal(bad.code, 2);
    assert.match(errorLines(bad.stderr).join('\n'), /PGCDC_BAD_ARGUMENT: message prefix must be a non-empty string/);
  });
});

describe('pgcdc tail: transforms, dead letters, heartbeats, metrics', () => {
  test('--transform loads a TypeScript module; --dead-letter-file receives malformed outbox messages with the reason, the rest flows on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgcdc-cli-'));
    const transform = join(dir, 'shout.ts');
    writeFileSync(transform, `export default (event: { after?: Record<string, unknown> | null }) => {\n  if (event.after && typeof event.after.name === 'string') event.after.name = event.after.name.toUpperCase();\n  return event;\n};\n`);
    const letters = join(dir, 'dead.jsonl');
    await runCli(['slot', 'create', server.url(), '--slot', 'xform']);
    await server.query(`SELECT pg_logical_emit_message(true, 'outbox', 'not json at all')`);
    await server.query(`INSERT INTO users VALUES (40, 'quiet')`);
    const run = await runCli(['tail', server.url(), '--slot', 'xform', '--publication', 'cli', '--format', 'json', '--max-events', '1', '--transform', transform, '--dead-letter-file', letters]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).after.name, 'QUIET');
    const dead = readFileSync(letters, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(dead.length, 1);
    assert.equal(dead[0].stage, 'outbox');
    assert.match(dead[0].reason, /^outbox message content is not JSON/);
    assert.equal(dead[0].event.message.content, 'not json at all');
  });

  test('--on-rejected stop exits 7 with one line and does not acknowledge past the rejected event', async () => {
    await runCli(['slot', 'create', server.url(), '--slot', 'strict']);
    const before = (await confirmed('strict'))!;
    await server.query(`SELECT pg_logical_emit_message(true, 'outbox', '{"id":"1"}')`);
    const run = await runCli(['tail', server.url(), '--slot', 'strict', '--publication', 'cli', '--format', 'json', '--on-rejected', 'stop', '--status-interval', '0.1']);
    assert.equal(run.code, 7, run.stderr);
    const lines = errorLines(run.stderr);
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /PGCDC_REJECTED_EVENT: event [0-9A-F]+\/[0-9A-F]+:1 rejected by outbox: outbox record rejected: missing aggregate_type, aggregate_id/);
    assert.equal(await confirmed('strict'), before, 'the slot did not move past the rejected event');
  });

  test('--show-heartbeats prints our heartbeats; --metrics-port serves retained WAL, wal_status and event counts', async () => {
    const port = await freePort();
    const running = startCli(['tail', server.url(), '--slot', 'metrics', '--publication', 'cli', '--temporary', '--format', 'json',
      '--heartbeat-interval', '0.5', '--show-heartbeats', '--metrics-port', String(port), '--until-idle', '4']);
    await waitForOutput(running, (out) => out.includes('"heartbeat"'));
    await server.query(`INSERT INTO users VALUES (50, 'metered')`);
    await waitForOutput(running, (out) => out.includes('"metered"'));
    const text = await eventually('the insert counted in /metrics', async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), (t) => /pgcdc_events_total\{slot="metrics",table="public.users",op="c"\} 1/.test(t));
    running.child.kill('SIGINT');
    await running.done;
    assert.match(text, /pgcdc_slot_retained_wal_bytes\{slot="metrics"\} \d+/);
    assert.match(text, /pgcdc_slot_wal_status\{slot="metrics",status="reserved"\} 1/);
    assert.match(text, /pgcdc_events_total\{slot="metrics",table="public.users",op="c"\} 1/);
    assert.match(text, /pgcdc_events_total\{slot="metrics",table="message:heartbeat",op="m"\} \d+/);
    const heartbeat = running.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.op === 'm');
    assert.equal(heartbeat.message.prefix, 'heartbeat');
    assert.equal(heartbeat.message.transactional, false);
  });
});
