/**
 * The lower-level API of docs/low-level.md, run as the doc shows it (imports from
 * src/index.ts, the package's entry): a loop of one's own over the replication
 * connection, the pure decoder and status updates, acknowledging by hand.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually } from '../support/collect.ts';
import { confirmedLsn } from '../support/slots.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { LSN_ZERO, PgOutputDecoder, ReplicationConnection, formatLsn, parseLsn, resolveConnection, type Lsn } from '../../src/index.ts';
import { SqlConnection } from '../../src/source/sql-connection.ts';

let server: TestPostgres;
before(async () => {
  server = await startPostgres(latestMajor());
  await server.query(`CREATE TABLE app_events (id int PRIMARY KEY, name text); CREATE PUBLICATION app FOR TABLE app_events`);
  await server.query(`SELECT pg_create_logical_replication_slot('app', 'pgoutput')`);
});
after(async () => { await server?.stop(); });

test('docs/low-level.md: stream with the replication connection and the decoder, acknowledge by hand', async () => {
  await server.query(`INSERT INTO app_events VALUES (1, 'one'), (2, 'two')`);
  const printed: string[] = [];
  const log = (line: string) => printed.push(line);

  // ---- the example, as in docs/low-level.md (console.log → log) ----
  const replication = await ReplicationConnection.open(resolveConnection(server.url()));
  const decoder = new PgOutputDecoder();
  let handled: Lsn = LSN_ZERO; // everything before this position is done with
  const session = replication.startReplication('app', LSN_ZERO, { proto_version: '1', publication_names: 'app', messages: 'true' }, {
    onXLogData(header, buffer, start, end) {
      const message = decoder.decode(buffer, start, end);
      if (message.tag === 'insert') log(`insert into ${message.relationOid}: ${message.newTuple.map((v) => (v.kind === 'text' ? v.text : v.kind)).join(', ')}`);
      if (message.tag === 'commit') handled = message.endLsn; // the whole transaction is handled
    },
    onKeepalive(keepalive) { if (keepalive.replyRequested) session.sendStatus(handled); },
    onChunkEnd() {},
    onEnd(error) { if (error) log(`ended: ${error.code} ${error.message}`); },
  });
  const timer = setInterval(() => session.sendStatus(handled), 100); // the docs say 10 s
  // ---- end of the example ----

  try {
    await eventually('both inserts', async () => printed, (p) => p.length >= 2);
    assert.match(printed[0]!, /^insert into \d+: 1, one$/);
    assert.match(printed[1]!, /^insert into \d+: 2, two$/);
    await eventually('the slot acknowledged at the commit', async () => (await confirmedLsn(server, 'app')) ?? '0/0', (at) => parseLsn(at) >= handled && handled > 0n);
    assert.equal(formatLsn(parseLsn((await confirmedLsn(server, 'app'))!)), formatLsn(handled));
  } finally {
    clearInterval(timer);
    await replication.close();
  }
});

test('SqlConnection: queries asked at the same moment (slot health, heartbeats, watermarks share one) take turns in call order, each failure its own, and pg warns of nothing', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  const sql = await SqlConnection.open(resolveConnection(server.url()));
  try {
    const finished: number[] = [];
    const asked = [0, 1, 2, 3, 4].map((i) => (i === 2
      ? sql.query('SELECT * FROM no_such_table').then(() => finished.push(i), () => finished.push(-i))
      : sql.query<{ n: number }>('SELECT pg_sleep($1::float8 / 100), $2::int AS n', [4 - i, i]).then((rows) => finished.push(rows[0]!.n))));
    const texts = sql.queryText('SELECT 1::int AS one');
    await Promise.all(asked);
    assert.deepEqual(finished, [0, 1, -2, 3, 4], 'in call order, though the first sleeps longest; the failed one fails alone');
    assert.deepEqual((await texts).rows, [['1']]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.filter((w) => /already executing a query/.test(w)), []);
  } finally {
    process.off('warning', onWarning);
    await sql.close();
  }
});
