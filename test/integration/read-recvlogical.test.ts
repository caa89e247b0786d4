/**
 * The wal2json article's set-up against Debian's PostgreSQL 15 with wal2json:
 * pg_recvlogical writes events.log while users are added, updated and deleted,
 * then `pgcdc read events.log` says exactly what happened. The same workload
 * read through pgoutput, wal2json (both formats) and test_decoding gives the same
 * events apart from the documented differences (docs/read.md).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { errorLines, runCli, startCli, waitForOutput } from '../support/cli.ts';
import { collectEvents, eventually } from '../support/collect.ts';
import { DEBIAN_PG_BIN, hasOutputPluginAllowList, startDebianPostgres, type DebianPostgres } from '../support/debian-postgres.ts';

let server: DebianPostgres;
let dir: string;

before(async () => {
  server = await startDebianPostgres();
  await server.query('CREATE DATABASE main');
  await server.query(`CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz NOT NULL DEFAULT now())`, [], 'main');
  await server.query(`CREATE PUBLICATION all_users FOR TABLE users`, [], 'main');
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-recvlogical-'));
});
after(async () => { await server?.stop(); });

function recvlogical(slot: string, file: string, options: string[]): ChildProcess {
  const out = openSync(file, 'w');
  return spawn(`${DEBIAN_PG_BIN}/pg_recvlogical`, ['-d', server.url('main'), '--slot', slot, '--start', '-f', '-', ...options.flatMap((o) => ['-o', o])], { stdio: ['ignore', out, 'ignore'] });
}

async function stopRecvlogical(child: ChildProcess): Promise<void> {
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
}

async function userWorkload(): Promise<void> {
  await server.query(`INSERT INTO users (name, email) VALUES ('Ada', 'ada@example.com'), ('Linus', 'linus@example.com')`, [], 'main');
  await server.query(`UPDATE users SET email = 'ada@lovelace.dev' WHERE name = 'Ada'`, [], 'main');
  await server.query(`DELETE FROM users WHERE name = 'Linus'`, [], 'main');
  await server.query(`SELECT pg_logical_emit_message(false, 'log', 'users updated')`, [], 'main');
}

/** What a person would say happened, from any plugin's events. */
const happened = (e: ChangeEvent) =>
  e.op === 'm' ? `message ${e.message!.prefix}: ${e.message!.content}` :
  e.op === 'c' ? `insert ${e.after!.name} <${e.after!.email}>` :
  e.op === 'u' ? `update ${e.after!.name} <${e.after!.email}>` :
  e.op === 'd' ? `delete id ${e.before!.id}` : `${e.op} ${e.source.table}`;

const EXPECTED = ['insert Ada <ada@example.com>', 'insert Linus <linus@example.com>', 'update Ada <ada@lovelace.dev>', 'delete id 2', 'message log: users updated'];

describe('reading pg_recvlogical files (PostgreSQL 15, wal2json 2.5)', () => {
  const files: Record<string, string> = {};

  test("the article's set-up: pg_recvlogical -o pretty-print=1 writes events.log; pgcdc read prints exactly what happened", async () => {
    await server.query(`SELECT pg_create_logical_replication_slot('user_slot', 'wal2json')`, [], 'main');
    await server.query(`SELECT pg_create_logical_replication_slot('v2_slot', 'wal2json')`, [], 'main');
    await server.query(`SELECT pg_create_logical_replication_slot('td_slot', 'test_decoding')`, [], 'main');
    await server.query(`SELECT pg_create_logical_replication_slot('po_slot', 'pgoutput')`, [], 'main');
    files.v1 = join(dir, 'events.log');
    files.v2 = join(dir, 'events-v2.jsonl');
    files.td = join(dir, 'events-td.txt');
    // The slots hold the workload. Each pg_recvlogical has written all of it once
    // its file holds the workload's last change, the message: a condition, not a clock.
    await userWorkload();
    const writers = [
      recvlogical('user_slot', files.v1, ['pretty-print=1', 'include-xids=1', 'include-timestamp=1', 'include-pk=1']),
      recvlogical('v2_slot', files.v2, ['format-version=2', 'include-xids=1', 'include-timestamp=1', 'include-pk=1', 'include-lsn=1']),
      recvlogical('td_slot', files.td, ['include-xids=1', 'include-timestamp=1']),
    ];
    for (const file of [files.v1, files.v2, files.td]) {
      await eventually(`the workload's last change in ${file}`, async () => readFileSync(file, 'utf8'), (text) => text.includes('users updated'));
    }
    for (const w of writers) await stopRecvlogical(w);

    const run = await runCli(['read', files.v1, '--format', 'pretty']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 5, run.stdout);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} tx \d+ +INSERT +public\.users \[id=1\] name='Ada' email='ada@example\.com' created_at='\d{4}-\d\d-\d\dT[\d:.]+Z'$/);
    assert.match(lines[1]!, /INSERT +public\.users \[id=2\] name='Linus'/);
    assert.match(lines[2]!, /UPDATE +public\.users \[id=1\] .*email='ada@lovelace\.dev'/);
    assert.match(lines[3]!, /DELETE +public\.users \[id=2\]$/);
    assert.match(lines[4]!, /^--:--:--\.--- tx - +MESSAGE +log \(non-transactional\) users updated$/);
    assert.match(run.stderr, /read \d+ lines of wal2json format-version 1: 5 events/);
  });

  test('the same workload through pgoutput, wal2json (format 1 and 2) and test_decoding gives the same events', async () => {
    const stream = await ChangeStream.open({ connection: server.url('main'), slot: 'po_slot', publication: 'all_users', heartbeat: false });
    let pgoutput: ChangeEvent[];
    try {
      pgoutput = await collectEvents(stream, 5);
    } finally {
      await stream.stop();
    }
    assert.deepEqual(pgoutput.map(happened), EXPECTED);
    const fromFiles: Record<string, ChangeEvent[]> = {};
    for (const [name, file] of Object.entries(files)) {
      const run = await runCli(['read', file, '--format', 'json']);
      assert.equal(run.code, 0, `${name}: ${run.stderr}`);
      fromFiles[name] = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as ChangeEvent);
      assert.deepEqual(fromFiles[name]!.map(happened), EXPECTED, name);
    }
    // Same rows, same values, same types (timestamps, ids) as pgoutput.
    for (const [name, events] of Object.entries(fromFiles)) {
      for (let i = 0; i < 3; i++) assert.deepEqual(events[i]!.after, pgoutput[i]!.after, `${name} event ${i}`);
      assert.deepEqual(events[3]!.before, pgoutput[3]!.before, `${name} delete`);
      for (let i = 0; i < 4; i++) assert.equal(events[i]!.source.txId, pgoutput[i]!.source.txId, `${name} txId ${i}`);
    }
    // Documented differences: LSNs (only format 2 has per-change LSNs), the old key on updates (wal2json always sends it).
    assert.equal(fromFiles.v2![0]!.id, pgoutput[0]!.id, 'format 2 carries the commit LSN, so ids match pgoutput');
    assert.equal(fromFiles.td![0]!.source.lsn, null);
    assert.deepEqual(fromFiles.v1![2]!.before, { id: 1 });
    assert.equal(pgoutput[2]!.before, null);
  });

  test('--follow keeps reading a growing file; bad input gives one line with the line number', async () => {
    const file = join(dir, 'follow.log');
    await server.query(`SELECT pg_create_logical_replication_slot('follow_slot', 'wal2json')`, [], 'main');
    const writer = recvlogical('follow_slot', file, ['format-version=2', 'include-xids=1']);
    const reader = startCli(['read', file, '--follow', '--format', 'json']);
    try {
      // The slot exists: what follows is in it whenever pg_recvlogical and the reader get going.
      await server.query(`INSERT INTO users (name) VALUES ('Grace')`, [], 'main');
      await waitForOutput(reader, (out) => out.includes('"Grace"'));
      await server.query(`INSERT INTO users (name) VALUES ('Barbara')`, [], 'main');
      await waitForOutput(reader, (out) => out.includes('"Barbara"'));
    } finally {
      reader.child.kill('SIGINT');
      await reader.done;
      await stopRecvlogical(writer);
    }
    assert.match(reader.stderr(), /wal2json format-version 2: 2 events/);
    const bad = await runCli(['read', '-'], {}, 10_000);
    assert.equal(bad.code, 0, 'empty stdin is no error');
    const garbage = join(dir, 'garbage.log');
    (await import('node:fs')).writeFileSync(garbage, '{"action":"B","xid":1}\n{"action":"I","xid":1,"schema":"public","table":"t","columns":[{"name":"id","type":"integer","value":1}]}\nnot json\n{"action":"C","xid":1}\n');
    const run = await runCli(['read', garbage]);
    assert.equal(run.code, 6);
    assert.equal(errorLines(run.stderr).length, 1);
    assert.match(errorLines(run.stderr)[0]!, /PGCDC_BAD_INPUT: .*garbage\.log: line 3: invalid JSON: .*pass --skip-bad/);
    const skipped = await runCli(['read', garbage, '--skip-bad', '--format', 'json']);
    assert.equal(skipped.code, 0);
    assert.equal(JSON.parse(skipped.stdout).after.id, 1);
    assert.match(skipped.stderr, /skipped 1 malformed records \(first at line 3/);
  });

  test('a server that does not allow wal2json as an output plugin: one line naming output_plugin_libraries, exit 4, no slot', async (t) => {
    if (!hasOutputPluginAllowList()) return t.skip(`PostgreSQL ${DEBIAN_PG_BIN} predates output_plugin_libraries`);
    await server.query(`ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding'`);
    await server.query('SELECT pg_reload_conf()');
    try {
      const run = await runCli(['tail', server.url('main'), '--plugin', 'wal2json', '--slot', 'not_allowed', '--no-heartbeat']);
      assert.equal(run.code, 4, run.stderr);
      assert.equal(errorLines(run.stderr).length, 1, run.stderr);
      assert.match(errorLines(run.stderr)[0]!, /PGCDC_PLUGIN_NOT_ALLOWED: library "wal2json" may not be used as an output plugin; allow it as a superuser: ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding, wal2json'; SELECT pg_reload_conf\(\)/);
      assert.deepEqual(await server.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'not_allowed'`), []);
    } finally {
      await server.query('ALTER SYSTEM RESET output_plugin_libraries');
      await server.query('SELECT pg_reload_conf()');
    }
  });

  test('pgcdc tail --plugin wal2json and --plugin test_decoding stream live: the same events as pgoutput, acknowledged and resumed', async () => {
    for (const plugin of ['wal2json', 'test_decoding']) {
      await runCli(['slot', 'create', server.url('main'), '--slot', `live_${plugin}`, '--plugin', plugin]);
    }
    await runCli(['slot', 'create', server.url('main'), '--slot', 'live_pgoutput']);
    await server.query(`INSERT INTO users (name, email) VALUES ('Edsger', 'ed@example.com')`, [], 'main');
    await server.query(`BEGIN; INSERT INTO users (name) VALUES ('Ghost'); SELECT pg_logical_emit_message(false, 'log', 'rolled back'); ROLLBACK`, [], 'main');
    await server.query(`UPDATE users SET email = 'edsger@example.com' WHERE name = 'Edsger'`, [], 'main');
    const outputs: Record<string, ChangeEvent[]> = {};
    for (const plugin of ['pgoutput', 'wal2json', 'test_decoding']) {
      const run = await runCli(['tail', server.url('main'), '--plugin', plugin, '--slot', `live_${plugin}`, '--publication', 'all_users', '--format', 'json', '--max-events', '3', '--status-interval', '0.1', '--no-heartbeat']);
      assert.equal(run.code, 0, `${plugin}: ${run.stderr}`);
      outputs[plugin] = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as ChangeEvent);
    }
    const expected = ['insert Edsger <ed@example.com>', 'message log: rolled back', 'update Edsger <edsger@example.com>'];
    for (const [plugin, events] of Object.entries(outputs)) {
      assert.deepEqual(events.map(happened), expected, plugin);
      assert.deepEqual(events[0]!.after, outputs.pgoutput![0]!.after, `${plugin} converts values as pgoutput does`);
    }
    assert.equal(outputs.wal2json![0]!.id, outputs.pgoutput![0]!.id, 'wal2json format 2 gives the commit LSN: same ids');
    assert.equal(typeof outputs.test_decoding![0]!.source.lsn, 'number', 'live, the XLogData header gives test_decoding its LSNs');
    await server.query(`DELETE FROM users WHERE name = 'Edsger'`, [], 'main');
    for (const plugin of ['wal2json', 'test_decoding']) {
      const again = await runCli(['tail', server.url('main'), '--plugin', plugin, '--slot', `live_${plugin}`, '--format', 'json', '--max-events', '1', '--no-heartbeat']);
      assert.equal(happened(JSON.parse(again.stdout) as ChangeEvent).startsWith('delete'), true, `${plugin} resumed after what it acknowledged`);
    }
  });

  test('a publication created after the slot: the error explains the cause (PostgreSQL 15; 18 skips those changes instead)', async () => {
    await runCli(['slot', 'create', server.url('main'), '--slot', 'late']);
    await server.query(`INSERT INTO users (name) VALUES ('before the publication')`, [], 'main');
    const run = await runCli(['tail', server.url('main'), '--slot', 'late', '--publication', 'late_pub', '--tables', 'public.users', '--format', 'json', '--max-events', '1']);
    assert.equal(run.code, 4, run.stderr);
    assert.equal(errorLines(run.stderr).length, 1, run.stderr);
    assert.match(errorLines(run.stderr)[0]!, /PGCDC_PUBLICATION_MISSING: publication "late_pub" was created after slot "late"'s position \([0-9A-F]+\/[0-9A-F]+\); pgoutput cannot read changes from before it/);
  });
});
