/** TLS with libpq sslmode semantics against a real server with a self-signed certificate. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { errorLines, runCli } from '../support/cli.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { eventually } from '../support/collect.ts';

let server: TestPostgres;
let caFile: string;

before(async () => {
  server = await startPostgres(latestMajor());
  const data = join(server.dataDir, 'data');
  const owner = statSync(data);
  const key = join(data, 'server.key');
  const cert = join(data, 'server.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  for (const file of [key, cert]) chownSync(file, owner.uid, owner.gid);
  execFileSync('chmod', ['600', key]);
  caFile = join(server.dataDir, 'ca.crt');
  writeFileSync(caFile, execFileSync('cat', [cert]));
  await server.query(`ALTER SYSTEM SET ssl = on`);
  await server.query(`SELECT pg_reload_conf()`);
  await eventually('the server to take ssl = on', () => server.query<{ ssl: string }>('SHOW ssl'), (rows) => rows[0]?.ssl === 'on');
  await server.query(`CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION tls_pub FOR TABLE t`);
});
after(async () => { await server?.stop(); });

describe('TLS', () => {
  test('sslmode=require encrypts the replication connection (libpq semantics: no certificate check)', async () => {
    const created = await runCli(['slot', 'create', `${server.url()}?sslmode=require`, '--slot', 'tls1']);
    assert.equal(created.code, 0, created.stderr);
    await server.query('INSERT INTO t VALUES (1)');
    const run = await runCli(['tail', `${server.url()}?sslmode=require`, '--slot', 'tls1', '--publication', 'tls_pub', '--format', 'json', '--max-events', '1', '--until-idle', '5']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).after.id, 1);
    await server.query('INSERT INTO t VALUES (2)');
    const second = await runCli(['tail', `${server.url()}?sslmode=require`, '--slot', 'tls1', '--publication', 'tls_pub', '--format', 'json', '--max-events', '1']);
    assert.equal(JSON.parse(second.stdout).after.id, 2);
  });
  test('sslmode=verify-full with the CA verifies the server; without the CA it fails with one clear line', async () => {
    const ok = await runCli(['slot', 'list', `${server.url()}?sslmode=verify-full&sslrootcert=${caFile}`]);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await runCli(['slot', 'list', `${server.url()}?sslmode=verify-full`]);
    assert.equal(bad.code, 3);
    const lines = errorLines(bad.stderr);
    assert.equal(lines.length, 1, bad.stderr);
    assert.match(lines[0]!, /PGCDC_TLS: the server's TLS certificate is not trusted.*sslrootcert=FILE/);
  });
  test('the walsender sees an encrypted connection', async () => {
    const running = runCli(['tail', `${server.url()}?sslmode=require`, '--slot', 'tls2', '--publication', 'tls_pub', '--format', 'json', '--until-idle', '3']);
    const rows = await eventually('the walsender', () => server.query<{ ssl: boolean }>(`SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)`), (r) => r.length > 0);
    await running;
    assert.deepEqual(rows.map((r) => r.ssl), [true]);
  });
});
