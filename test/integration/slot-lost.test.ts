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
import { errorLines, runCli } from '../support/cli.ts';
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
