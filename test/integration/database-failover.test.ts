/**
 * The worst day, part one (issue 19 §1): the primary dies under a steady write
 * load and its physical standby is promoted. pgcdc was given both hosts
 * (`target_session_attrs=read-write`) and a failover slot that the standby
 * synchronizes (sync_replication_slots; synchronized_standby_slots on the
 * primary). It must carry on by itself against the new primary: every
 * transaction the new primary has arrives, nothing the new primary lacks was
 * ever delivered, repeats are only of changes from before the failover (the
 * synchronized slot's position trails the primary's by the sync interval), and
 * the time from promotion to the first new event is measured.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { fastRetryPipeline } from '../support/versions.ts';
import { eventually } from '../support/collect.ts';
import { runCli } from '../support/cli.ts';
import { startPostgres, testMajors, type TestPostgres } from '../support/postgres.ts';
import { startStandby, type TestStandby } from '../support/standby.ts';

/** Inserts ids 1, 2, … one transaction each, into whichever server is writable; remembers which committed where. */
function writeLoad(urls: () => string[]) {
  const committed: Array<{ id: number; at: number; port: string }> = [];
  let running = true;
  let nextId = 1;
  const done = (async () => {
    let client: pg.Client | undefined;
    let port = '';
    while (running) {
      try {
        if (client === undefined) {
          for (const url of urls()) {
            const candidate = new pg.Client({ connectionString: url, connectionTimeoutMillis: 500 });
            candidate.on('error', () => undefined); // a server killed under it: the next query fails and says so
            try {
              await candidate.connect();
              const [row] = (await candidate.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')).rows;
              if (!row!.recovery) { client = candidate; port = new URL(url).port; break; }
            } catch { /* down */ }
            await candidate.end().catch(() => undefined);
          }
          if (client === undefined) { await new Promise((r) => setTimeout(r, 50)); continue; }
        }
        const id = nextId;
        await client.query('INSERT INTO ticks (id) VALUES ($1)', [id]);
        committed.push({ id, at: Date.now(), port });
        nextId++;
        await new Promise((r) => setTimeout(r, 5));
      } catch {
        // The server went away: its fate (committed or not) is settled by reading the new primary.
        await client?.end().catch(() => undefined);
        client = undefined;
        nextId++;
      }
    }
    await client?.end().catch(() => undefined);
  })();
  return { committed, stop: async () => { running = false; await done; } };
}

const delivered = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '').split('\n').filter(Boolean)
  .map((line) => (JSON.parse(line) as { after: { id: number } | null }).after?.id).filter((id): id is number => id !== undefined);

for (const major of [17, 18].filter((m) => testMajors().includes(m))) {
  describe(`database failover on PostgreSQL ${major}`, () => {
    let primary: TestPostgres | undefined;
    let standby: TestStandby | undefined;
    after(async () => {
      await standby?.stop();
      await primary?.stop();
    });

    test('primary killed under load, standby promoted: pgcdc continues by itself from the synchronized failover slot; every transaction of the new primary arrives, none it lacks, repeats only from before the failover', async () => {
      primary = await startPostgres(major);
      await primary.query('CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp()); CREATE PUBLICATION ticks FOR TABLE ticks');
      standby = await startStandby(primary, 'standby1');
      // Logical walsenders send nothing the standby has not flushed: what pgcdc delivers survives the promotion.
      await primary.query(`ALTER SYSTEM SET synchronized_standby_slots = 'standby1'`);
      await primary.query('SELECT pg_reload_conf()');

      const dir = mkdtempSync(join(tmpdir(), 'pgcdc-failover-'));
      const out = join(dir, 'out.jsonl');
      const both = `postgresql://${primary.user}:${encodeURIComponent(primary.password)}@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`;
      const pipeline = fastRetryPipeline(both, 'orders_cdc', 'ticks', { type: 'file', path: out });
      const notices: string[] = [];
      pipeline.on('notice', (message) => notices.push(message));
      const errors: string[] = [];
      pipeline.on('error', (error: Error) => errors.push(error.message));
      await pipeline.start();
      const load = writeLoad(() => [primary!.url(), standby!.url()]);
      try {
        await eventually('the failover slot synchronized to the standby', async () => (await standby!.query<{ ready: boolean }>(`SELECT synced AND NOT temporary AS ready FROM pg_replication_slots WHERE slot_name = 'orders_cdc'`))[0]?.ready, (ready) => ready === true, 60_000);
        await eventually('changes flowing', async () => delivered(out).length, (n) => n >= 200, 30_000);
        // Covered by a streaming standby: slot list has no failover warning; the standby's copy shows synced.
        const onPrimary = await runCli(['slot', 'list', primary.url()]);
        assert.doesNotMatch(onPrimary.stderr, /warning/, onPrimary.stderr);
        const onStandby = await runCli(['slot', 'list', standby.url()]);
        assert.match(onStandby.stdout, /^orders_cdc\s.*\syes\s+yes$/m, onStandby.stdout);

        await primary.crash();
        const killedAt = Date.now();
        await standby.promote();
        const promotedAt = Date.now();
        const firstNew = await eventually('a change made on the new primary', async () => {
          const onNew = new Set(load.committed.filter((c) => c.port === String(standby!.port)).map((c) => c.id));
          return delivered(out).some((id) => onNew.has(id)) ? Date.now() : undefined;
        }, (at) => at !== undefined, 60_000).catch(async (error: Error) => {
          const slots = await standby!.query('SELECT slot_name, synced, temporary, invalidation_reason, confirmed_flush_lsn FROM pg_replication_slots').catch((e: Error) => e.message);
          throw new Error(`${error.message}; slots ${JSON.stringify(slots)}; pipeline ${pipeline.health}; notices: ${notices.slice(-5).join(' | ')}; errors: ${errors.slice(-5).join(' | ')}`);
        });
        await new Promise((r) => setTimeout(r, 1000)); // more load on the new primary
        await load.stop();

        const onNewPrimary = (await standby.query<{ id: number }>('SELECT id FROM ticks ORDER BY id')).map((r) => r.id);
        await eventually('every row of the new primary delivered', async () => new Set(delivered(out)), (seen) => onNewPrimary.every((id) => seen.has(id)), 30_000);
        await pipeline.stop();

        const all = delivered(out);
        const seen = new Set(all);
        const onNew = new Set(onNewPrimary);
        const lostByPostgres = load.committed.filter((c) => !onNew.has(c.id)).length;
        const repeated = all.filter((id, i) => all.indexOf(id) !== i);
        const afterPromotion = load.committed.filter((c) => c.port === String(standby!.port)).map((c) => c.id);
        console.log(`failover on ${major}: ${onNewPrimary.length} rows on the new primary, ${all.length} events, ${repeated.length} repeats, ${lostByPostgres} commits the old primary acknowledged that the standby never had (asynchronous replication); kill → promoted ${promotedAt - killedAt} ms, promoted → first new event ${firstNew! - promotedAt} ms`);
        assert.deepEqual([...onNew].filter((id) => !seen.has(id)), [], 'every transaction of the new primary arrived');
        assert.deepEqual([...seen].filter((id) => !onNew.has(id)), [], 'nothing was delivered that the new primary does not have (synchronized_standby_slots)');
        assert.ok(afterPromotion.length > 0, 'the load went on on the new primary');
        const repeatedAfter = repeated.filter((id) => afterPromotion.includes(id));
        assert.deepEqual(repeatedAfter, [], 'no change made after the promotion was delivered twice');
      } finally {
        await load.stop();
        await pipeline.stop();
      }
    });
  });
}
