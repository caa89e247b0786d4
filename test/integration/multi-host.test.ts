/**
 * libpq's multi-host connection strings: `postgresql://h1:p1,h2:p2/db` with
 * target_session_attrs. pgcdc tries the hosts in order and takes the first that
 * answers and fits, on every (re)connect, so after a failover it finds the new
 * primary by itself. Two real servers, one read-only (as a standby is), and a
 * host that does not answer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { freePort } from '../../src/demo/embedded-postgres.ts';
import { errorLines, runCli } from '../support/cli.ts';
import { collectEvents } from '../support/collect.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { startTogether } from '../support/servers.ts';

let readOnly: TestPostgres;
let writable: TestPostgres;
before(async () => {
  [readOnly, writable] = await startTogether<[TestPostgres, TestPostgres]>([
    () => startPostgres(latestMajor(), ['-c', 'default_transaction_read_only=on']),
    () => startPostgres(latestMajor()),
  ], (s) => s.stop());
  await writable.query('CREATE TABLE m (id int PRIMARY KEY)');
});
after(async () => {
  await readOnly?.stop();
  await writable?.stop();
});

const hostsUrl = (ports: number[], query = '') => `postgresql://postgres:pgcdc-test-pw@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/postgres${query}`;

test('target_session_attrs=read-write skips the read-only server and streams from the writable one', async () => {
  const stream = await ChangeStream.open({ connection: hostsUrl([readOnly.port, writable.port], '?target_session_attrs=read-write'), slot: 'multi', publication: 'multi_pub', heartbeat: false, temporary: true });
  try {
    await writable.query('INSERT INTO m VALUES (1)');
    const [event] = await collectEvents(stream, 1);
    assert.equal(event!.after!.id, 1);
    assert.equal((await readOnly.query(`SELECT slot_name FROM pg_replication_slots`)).length, 0, 'nothing on the read-only server');
  } finally {
    await stream.stop();
  }
});

test('a host that does not answer is skipped; with no host fitting, one line naming each host and why', async () => {
  const dead = await freePort();
  const stream = await ChangeStream.open({ connection: hostsUrl([dead, writable.port]), slot: 'multi2', publication: 'multi_pub', heartbeat: false, temporary: true });
  await stream.stop();
  const run = await runCli(['slot', 'list', hostsUrl([dead, readOnly.port], '?target_session_attrs=read-write')]);
  assert.notEqual(run.code, 0);
  const lines = errorLines(run.stderr);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, new RegExp(`PGCDC_UNREACHABLE: no host of postgresql://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${dead},127\\.0\\.0\\.1:${readOnly.port}/postgres\\?target_session_attrs=read-write is a read-write server: .*127\\.0\\.0\\.1:${dead}.*ECONNREFUSED.*127\\.0\\.0\\.1:${readOnly.port}.*read-only`));
  assert.doesNotMatch(run.stderr, /pgcdc-test-pw/, 'no password in the line');
  const bad = await runCli(['slot', 'list', hostsUrl([writable.port, readOnly.port], '?target_session_attrs=prefer-standby')]);
  assert.match(bad.stderr, /target_session_attrs=prefer-standby is not supported .*: use any, read-write or primary/);
});
