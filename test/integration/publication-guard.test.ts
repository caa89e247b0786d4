/**
 * pgcdc never creates a publication that fails the application's writes: a
 * table without a replica identity in a publication of updates and deletes makes
 * PostgreSQL refuse the application's UPDATE and DELETE on it. Real PostgreSQL,
 * the pgcdc CLI.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { errorLines, runCli, startCli, waitForOutput, waitForStreaming } from '../support/cli.ts';
import { confirmedLsn } from '../support/slots.ts';
import { eventually } from '../support/collect.ts';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

let server: TestPostgres;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`
    CREATE TABLE keyed (id int PRIMARY KEY, v text);
    CREATE TABLE nopk (v text);
    CREATE TABLE nothing (id int PRIMARY KEY, v text); ALTER TABLE nothing REPLICA IDENTITY NOTHING;
    CREATE TABLE full_identity (v text); ALTER TABLE full_identity REPLICA IDENTITY FULL;
    CREATE TABLE by_index (id int NOT NULL, v text); CREATE UNIQUE INDEX by_index_id ON by_index (id); ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_id;
    INSERT INTO nopk VALUES ('a'); INSERT INTO nothing VALUES (1, 'a');`);
});
after(async () => { await server?.stop(); });

/** The application's own writes on every table: none may fail because of pgcdc. */
async function applicationWrites(round: number): Promise<void> {
  await server.query(`UPDATE nopk SET v = 'r${round}'`);
  await server.query(`UPDATE nothing SET v = 'r${round}'`);
  await server.query(`DELETE FROM nopk WHERE v = 'never'`);
}

test('without --tables: every table with a replica identity is published whole, the keyless ones for inserts and truncates only; the application can still update them', async () => {
  const running = startCli(['tail', server.url(), '--slot', 'guard_all', '--publication', 'guard_all', '--format', 'json', '--temporary', '--no-heartbeat']);
  await waitForStreaming(running);
  assert.match(running.stderr(), /created publication guard_all for public\.by_index, public\.full_identity, public\.keyed; inserts and truncates only \(publication guard_all_keyless\), having no primary key or replica identity \(publishing their updates would fail the application's UPDATE and DELETE\): public\.nopk, public\.nothing; for their updates and deletes: ALTER TABLE public\.nopk REPLICA IDENTITY FULL/);
  await applicationWrites(1);
  await server.query(`INSERT INTO keyed VALUES (1, 'k'); UPDATE keyed SET v = 'k2'; INSERT INTO nopk VALUES ('n'); INSERT INTO full_identity VALUES ('f'); INSERT INTO by_index VALUES (7, 'i')`);
  await waitForOutput(running, (out) => out.includes('"i"'));
  running.child.kill('SIGINT');
  const result = await running.done;
  assert.equal(result.code, 0, result.stderr);
  const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { op: string; source: { table: string } }).map((e) => `${e.op} ${e.source.table}`);
  assert.deepEqual(events, ['c keyed', 'u keyed', 'c nopk', 'c full_identity', 'c by_index'], 'keyed tables stream whole, keyless ones their inserts (their updates, made by the application, are not published)');
  const published = await server.query<{ pubname: string; tablename: string }>(`SELECT pubname, tablename FROM pg_publication_tables WHERE pubname LIKE 'guard_all%' ORDER BY 1, 2`);
  assert.deepEqual(published.map((r) => `${r.pubname} ${r.tablename}`), ['guard_all by_index', 'guard_all full_identity', 'guard_all keyed', 'guard_all_keyless nopk', 'guard_all_keyless nothing']);
  const [keyless] = await server.query<{ pubinsert: boolean; pubupdate: boolean; pubdelete: boolean; pubtruncate: boolean }>(`SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'guard_all_keyless'`);
  assert.deepEqual(keyless, { pubinsert: true, pubupdate: false, pubdelete: false, pubtruncate: true });
  await applicationWrites(2);
});

test('--tables naming a table without a replica identity is refused before anything is created: one line with the fix, exit 4', async () => {
  for (const table of ['public.nopk', 'nothing']) {
    const run = await runCli(['tail', server.url(), '--slot', 'guard_listed', '--publication', 'guard_listed', '--tables', `keyed,${table}`]);
    assert.equal(run.code, 4, run.stderr);
    const lines = errorLines(run.stderr);
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /PGCDC_REPLICA_IDENTITY: public\.(nopk|nothing) has no primary key or replica identity: publishing its updates and deletes would make the application's UPDATE and DELETE fail; run ALTER TABLE public\.(nopk|nothing) REPLICA IDENTITY FULL \(or add a primary key\), or leave it out of --tables/);
  }
  assert.deepEqual(await server.query(`SELECT pubname FROM pg_publication WHERE pubname = 'guard_listed'`), []);
  assert.equal(await confirmedLsn(server, 'guard_listed'), undefined);
  await applicationWrites(2);
});

test('an existing publication that already fails the application (FOR ALL TABLES with keyless tables) is used, never altered, and named in a warning with the fix', async () => {
  await server.query('CREATE PUBLICATION users_own FOR ALL TABLES');
  try {
    await assert.rejects(server.query(`UPDATE nopk SET v = 'x'`), /cannot update table "nopk" because it does not have a replica identity and publishes updates/, 'PostgreSQL refuses the write: what pgcdc must never cause');
    const run = await runCli(['tail', server.url(), '--slot', 'guard_existing', '--publication', 'users_own', '--temporary', '--format', 'json', '--until-idle', '1', '--no-heartbeat']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: publication users_own publishes updates and deletes of public\.nopk, public\.nothing, which have no primary key or replica identity: the application's UPDATE and DELETE on them fail; run ALTER TABLE public\.nopk REPLICA IDENTITY FULL/);
    // A keyless table that appears later is named too, at once, and only it.
    const notices: string[] = [];
    await using stream = await ChangeStream.open({ connection: server.url(), slot: 'guard_watch', publication: 'users_own', temporary: true, heartbeat: false, slotHealthIntervalMs: 200, onNotice: (m) => notices.push(m) });
    assert.match(notices.join('\n'), /warning: publication users_own publishes updates and deletes of public\.nopk, public\.nothing/);
    await server.query('CREATE TABLE later_nopk (v text)');
    const later = await eventually('the notice about the new keyless table', async () => notices.filter((n) => n.includes('now publishes')), (found) => found.length > 0);
    assert.deepEqual(later, [`warning: publication users_own now publishes updates and deletes of public.later_nopk, which has no primary key or replica identity: the application's UPDATE and DELETE on it fail; run ALTER TABLE public.later_nopk REPLICA IDENTITY FULL (or add a primary key)`]);
    assert.equal(stream.slot, 'guard_watch');
  } finally {
    await server.query('DROP PUBLICATION users_own');
    await server.query('DROP TABLE IF EXISTS later_nopk');
  }
  await applicationWrites(3);
});
