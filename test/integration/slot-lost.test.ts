/**
 * A slot the server invalidated (max_slot_wal_keep_size) is never skipped
 * silently: pgcdc stops with PGCDC_SLOT_LOST, its own exit code, the position
 * after which changes are gone, and how to recover. Real PostgreSQL that removes
 * the WAL a stopped consumer's slot still needed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatLsn, parseLsn } from '../../src/core/lsn.ts';
import { EXIT_CODES } from '../../src/core/errors.ts';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configWriter, errorLines, runCli, startCli, stopGracefully, waitForStreaming } from '../support/cli.ts';
import { eventually } from '../support/collect.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
before(async () => {
  server = await startPostgres(latestMajor(), ['-c', 'max_slot_wal_keep_size=2MB', '-c', 'max_wal_size=32MB', '-c', 'min_wal_size=32MB']);
  await server.query('CREATE TABLE t (id serial PRIMARY KEY, v text)');
});
after(async () => { await server?.stop(); });

test('an invalidated slot stops pgcdc with PGCDC_SLOT_LOST (exit 9), the position after which changes are gone, and the recovery; no new slot is made', async () => {
  const created = await runCli(['slot', 'create', server.url(), '--slot', 'lost_while_down']);
  assert.equal(created.code, 0, created.stderr);
  const [{ lsn }] = await server.query<{ lsn: string }>(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'lost_while_down'`) as [{ lsn: string }];
  // The consumer is down while the application writes far more than the slot may keep.
  for (let i = 0; i < 6; i++) {
    await server.query(`INSERT INTO t (v) SELECT repeat('x', 500) FROM generate_series(1, 5000)`);
    await server.query('SELECT pg_switch_wal()');
  }
  await server.query('CHECKPOINT');
  await server.query('CHECKPOINT');
  const [slot] = await server.query<{ wal_status: string }>(`SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'lost_while_down'`);
  assert.equal(slot!.wal_status, 'lost', 'the server invalidated the slot');
  const run = await runCli(['tail', server.url(), '--slot', 'lost_while_down', '--publication', 'pub_t', '--tables', 't', '--format', 'json', '--no-heartbeat']);
  assert.equal(run.code, EXIT_CODES.slotLost, run.stderr);
  assert.equal(run.code, 9);
  const lines = errorLines(run.stderr);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, new RegExp(`PGCDC_SLOT_LOST: slot "lost_while_down" was invalidated by the server \\(wal_status=lost\\): the changes after ${formatLsn(parseLsn(lsn)).replace('/', '\\/')} \\(its last confirmed position\\) are gone from the WAL; to recover, drop it \\(pgcdc slot drop --slot lost_while_down\\)`));
  const slots = await server.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots');
  assert.deepEqual(slots.map((s) => s.slot_name), ['lost_while_down'], 'pgcdc made no new slot to carry on with');
});

test('a slot dropped behind pgcdc\'s back: the next start stops with PGCDC_SLOT_LOST (exit 9) and what was delivered, never a silent new slot; pgcdc slot drop forgets it and the start after makes a new slot', async () => {
  await server.query('CREATE TABLE d (id int PRIMARY KEY)');
  const tail = (extra: string[] = []) => runCli(['tail', server.url(), '--slot', 'dropped', '--publication', 'pub_d', '--tables', 'd', '--format', 'json', '--no-heartbeat', '--status-interval', '0.1', ...extra]);
  const first = await tail(['--until-idle', '2']);
  assert.equal(first.code, 0, first.stderr);
  await server.query('INSERT INTO d SELECT g FROM generate_series(1, 5) g');
  const delivered = await tail(['--max-events', '5']);
  assert.equal(delivered.code, 0, delivered.stderr);
  assert.equal(delivered.stdout.trim().split('\n').length, 5);
  const [record] = await server.query<{ lsn: string }>(`SELECT lsn::text FROM pgcdc.delivered WHERE slot = 'dropped'`);
  assert.ok(record !== undefined, 'pgcdc recorded what it delivered');
  await server.query(`SELECT pg_drop_replication_slot('dropped')`);
  await server.query('INSERT INTO d VALUES (6)'); // a change no slot holds
  const stopped = await tail();
  assert.equal(stopped.code, 9, stopped.stderr);
  const lines = errorLines(stopped.stderr);
  assert.equal(lines.length, 1, stopped.stderr);
  assert.match(lines[0]!, new RegExp(`PGCDC_SLOT_LOST: slot "dropped" no longer exists \\(dropped, or not on this server after a failover\\), but pgcdc delivered its changes up to ${record!.lsn.replace('/', '\\/')} \\(pgcdc\\.delivered\\): the changes after that are in no slot; to recover, forget it \\(pgcdc slot drop --slot dropped\\)`));
  assert.deepEqual(await server.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'dropped'`), [], 'no new slot was made');
  const forget = await runCli(['slot', 'drop', server.url(), '--slot', 'dropped']);
  assert.equal(forget.code, 0, forget.stderr);
  assert.match(forget.stderr, /slot dropped was already gone; forgot pgcdc's record of it/);
  const again = await tail(['--until-idle', '1']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /created slot dropped/);
});

test('onSlotLost: resnapshot, for an invalidated slot and for a dropped one: a pgcdc.gap event first, then every row read again in the new slot\'s snapshot, then streaming', async () => {
  await server.query('CREATE TABLE r (id int PRIMARY KEY, v text); INSERT INTO r SELECT g, \'old\' FROM generate_series(1, 50) g');
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-resnapshot-'));
  const write = configWriter(dir);
  const out = join(dir, 'out.jsonl');
  const config = write('resnapshot.yaml', `
source: { url: "\${DATABASE_URL}", slot: again, publication: pub_r, tables: [public.r], statusInterval: 100ms, onSlotLost: resnapshot }
sink: { type: file, path: "${out}" }
heartbeat: false
snapshot: { mode: never, stateFile: "${join(dir, 'state.json')}" }
filter: { ops: [read, update] }   # no messages: the gap event must come through all the same
`);
  const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChangeEvent) : []);
  const runUntil = async (what: string, done: (events: ChangeEvent[]) => boolean) => {
    const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
    try {
      await waitForStreaming(running);
      await eventually(what, async () => lines(), done, 30_000);
    } finally {
      assert.equal(await stopGracefully(running), 0, running.stderr());
    }
    return running.stderr();
  };
  await runUntil('streaming', () => true);
  await server.query(`UPDATE r SET v = 'seen' WHERE id = 1`);
  await runUntil('the first change', (events) => events.some((e) => e.op === 'u'));
  for (const [reason, lose] of [
    ['invalidated', async () => {
      for (let i = 0; i < 6; i++) { await server.query(`INSERT INTO t (v) SELECT repeat('x', 500) FROM generate_series(1, 5000)`); await server.query('SELECT pg_switch_wal()'); }
      await server.query('CHECKPOINT'); await server.query('CHECKPOINT');
      const [slot] = await server.query<{ wal_status: string }>(`SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'again'`);
      assert.equal(slot!.wal_status, 'lost');
    }],
    ['dropped', async () => { await server.query(`SELECT pg_drop_replication_slot('again')`); }],
  ] as const) {
    await lose();
    await server.query(`UPDATE r SET v = 'lost ${reason}' WHERE id = 2`); // a change no slot holds any more
    const before = lines().length;
    const stderr = await runUntil(`the gap and the re-read rows (${reason})`, (events) => events.slice(before).filter((e) => e.op === 'r').length === 50);
    assert.match(stderr, new RegExp(`slot again was lost \\(${reason}\\) after \\S+: onSlotLost resnapshot makes a new slot`));
    const fresh = lines().slice(before);
    assert.equal(fresh[0]!.op, 'm');
    assert.equal(fresh[0]!.message!.prefix, 'pgcdc.gap');
    const gap = JSON.parse(fresh[0]!.message!.content) as { slot: string; reason: string; lostAfter: string | null; resumedAt: string };
    assert.equal(gap.slot, 'again');
    assert.equal(gap.reason, reason);
    assert.match(gap.lostAfter ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(gap.resumedAt, /^[0-9A-F]+\/[0-9A-F]+$/);
    const reread = fresh.slice(1).filter((e) => e.op === 'r');
    assert.equal(new Set(reread.map((e) => e.after!.id)).size, 50, 'every row read again');
    assert.equal(reread.find((e) => e.after!.id === 2)!.after!.v, `lost ${reason}`, 'the lost change is in the re-read rows');
    await server.query(`UPDATE r SET v = 'after ${reason}' WHERE id = 3`);
    await runUntil(`streaming after the gap (${reason})`, (events) => events.some((e) => e.op === 'u' && e.after!.v === `after ${reason}`));
  }
});

test('onSlotLost: resnapshot while streaming: the slot dropped behind a running pgcdc is recovered without a restart (gap event, every row read again, then streaming)', async () => {
  await server.query('CREATE TABLE m (id int PRIMARY KEY, v text); INSERT INTO m SELECT g, \'old\' FROM generate_series(1, 40) g');
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-resnapshot-live-'));
  const out = join(dir, 'out.jsonl');
  const config = configWriter(dir)('live.yaml', `
source: { url: "\${DATABASE_URL}", slot: live, publication: pub_m, tables: [public.m], statusInterval: 100ms, onSlotLost: resnapshot }
sink: { type: file, path: "${out}" }
heartbeat: false
snapshot: { mode: never, stateFile: "${join(dir, 'state.json')}" }
retry: { initialDelay: 1s, maxDelay: 2s }
`);
  const events = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChangeEvent) : []);
  const running = startCli(['run', '--config', config], { DATABASE_URL: server.url() });
  try {
    await waitForStreaming(running);
    await server.query(`UPDATE m SET v = 'seen' WHERE id = 1`);
    await eventually('the first change', async () => events(), (list) => list.some((e) => e.op === 'u'), 15_000);
    const before = events().length;
    // Behind its back: its walsender ended, the slot dropped before it reconnects (its retry waits 1 s).
    await server.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'live' AND active_pid IS NOT NULL`);
    await eventually('the slot dropped', async () => server.query(`SELECT pg_drop_replication_slot('live')`).then(() => true, () => false), (dropped) => dropped, 5_000);
    await server.query(`UPDATE m SET v = 'lost mid-stream' WHERE id = 2`); // no slot holds this change
    await eventually('the gap and the re-read rows', async () => events().slice(before), (fresh) => fresh.filter((e) => e.op === 'r').length === 40, 30_000);
    const fresh = events().slice(before);
    assert.equal(fresh[0]!.message?.prefix, 'pgcdc.gap', 'the gap event comes first');
    assert.equal((JSON.parse(fresh[0]!.message!.content) as { reason: string }).reason, 'dropped');
    assert.equal(fresh.find((e) => e.op === 'r' && e.after!.id === 2)!.after!.v, 'lost mid-stream');
    await server.query(`UPDATE m SET v = 'after' WHERE id = 3`);
    await eventually('streaming after the gap', async () => events(), (list) => list.some((e) => e.op === 'u' && e.after!.v === 'after'), 15_000);
    assert.match(running.stderr(), /slot live was lost \(dropped\) after \S+: onSlotLost resnapshot makes a new slot/);
    assert.equal(running.child.exitCode, null, 'the same process recovered and streams on');
  } finally {
    assert.equal(await stopGracefully(running), 0, running.stderr());
  }
});

test('pgcdc slot recover: after PGCDC_SLOT_LOST, one command delivers the gap event and every row read again, then exits; run streams on from the new slot; a healthy slot has nothing to recover', async () => {
  await server.query('CREATE TABLE k (id int PRIMARY KEY, v text); INSERT INTO k SELECT g, \'old\' FROM generate_series(1, 30) g');
  const dir = mkdtempSync(join(tmpdir(), 'pgcdc-recover-'));
  const out = join(dir, 'out.jsonl');
  const config = configWriter(dir)('recover.yaml', `
source: { url: "\${DATABASE_URL}", slot: byhand, publication: pub_k, tables: [public.k], statusInterval: 100ms }
sink: { type: file, path: "${out}" }
heartbeat: false
snapshot: { mode: never, stateFile: "${join(dir, 'state.json')}" }
`);
  const env = { DATABASE_URL: server.url() };
  const events = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChangeEvent) : []);
  const first = startCli(['run', '--config', config], env);
  await waitForStreaming(first);
  await server.query(`UPDATE k SET v = 'seen' WHERE id = 1`);
  await eventually('the first change', async () => events(), (list) => list.some((e) => e.op === 'u'), 15_000);
  assert.equal(await stopGracefully(first), 0, first.stderr());
  await server.query(`SELECT pg_drop_replication_slot('byhand')`);
  await server.query(`UPDATE k SET v = 'lost' WHERE id = 2`);
  const stopped = await runCli(['run', '--config', config], env);
  assert.equal(stopped.code, EXIT_CODES.slotLost, stopped.stderr);

  const before = events().length;
  const recovered = await runCli(['slot', 'recover', '--config', config], env, 60_000);
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.match(recovered.stderr, /slot byhand was gone, though pgcdc delivered its changes up to \S+: recovering/);
  assert.match(recovered.stderr, /recovered: a pgcdc\.gap event and every row read again were delivered/);
  const fresh = events().slice(before);
  assert.equal(fresh[0]!.message?.prefix, 'pgcdc.gap');
  const reread = fresh.filter((e) => e.op === 'r');
  assert.equal(new Set(reread.map((e) => e.after!.id)).size, 30);
  assert.equal(reread.find((e) => e.after!.id === 2)!.after!.v, 'lost');

  const again = await runCli(['slot', 'recover', '--config', config], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /slot byhand is not lost: nothing to recover/);
  const afterRecovery = events().length;
  const running = startCli(['run', '--config', config], env);
  try {
    await waitForStreaming(running);
    await server.query(`UPDATE k SET v = 'after' WHERE id = 3`);
    await eventually('streaming from the new slot', async () => events().slice(afterRecovery), (list) => list.some((e) => e.op === 'u' && e.after!.v === 'after'), 15_000);
    assert.equal(events().slice(afterRecovery).filter((e) => e.op === 'r').length, 0, 'no second snapshot');
  } finally {
    assert.equal(await stopGracefully(running), 0, running.stderr());
  }
});
