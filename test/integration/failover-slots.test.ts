/**
 * PostgreSQL 17 and 18: pgcdc creates its slots as failover slots, so that a
 * standby with sync_replication_slots has them when it is promoted; the start
 * says whether this server would hold a promotion back for them
 * (synchronized_standby_slots), and `pgcdc slot list` shows failover and synced.
 * On 16 and older there are no failover slots: nothing changes.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ChangeStream } from '../../src/engine/change-stream.ts';
import { runCli } from '../support/cli.ts';
import { startPostgres, testMajors, type TestPostgres } from '../support/postgres.ts';

for (const major of [16, 17, 18].filter((m) => testMajors().includes(m))) {
  describe(`failover slots on PostgreSQL ${major}`, () => {
    let server: TestPostgres | undefined;
    after(async () => { await server?.stop(); });

    test(major >= 17 ? 'slots are created with FAILOVER; the notice says synchronized_standby_slots is empty; slot list shows it' : 'no failover slots before 17: created as before, slot list shows -', async () => {
      server = await startPostgres(major);
      await server.query('CREATE TABLE f (id int PRIMARY KEY)');
      const notices: string[] = [];
      const stream = await ChangeStream.open({ connection: server.url(), slot: 'fo', publication: 'fo_pub', heartbeat: false, onNotice: (n) => notices.push(n) });
      await stream.stop();
      const [row] = await server.query<{ failover: boolean | null }>(`SELECT (to_jsonb(s) ->> 'failover')::boolean AS failover FROM pg_replication_slots s WHERE slot_name = 'fo'`);
      const created = notices.find((n) => n.startsWith('created slot fo'));
      const list = await runCli(['slot', 'list', server.url()]);
      assert.equal(list.code, 0, list.stderr);
      const [header, line] = list.stdout.trim().split('\n');
      assert.match(header!, /FAILOVER\s+SYNCED$/);
      if (major >= 17) {
        assert.equal(row!.failover, true);
        assert.match(created!, /\(a failover slot; synchronized_standby_slots is empty on this server, so a standby promoted now may not have it/);
        assert.match(line!, /^fo\s.*\syes\s+no$/);
        assert.match(list.stderr, /warning: no standby is known to keep a copy of the failover slot\(s\) fo: synchronized_standby_slots is empty on this server/);
        // With the setting (a standby's physical slot named), the notice says so.
        await server.query(`SELECT pg_create_physical_replication_slot('standby1')`);
        await server.query(`ALTER SYSTEM SET synchronized_standby_slots = 'standby1'`);
        await server.query('SELECT pg_reload_conf()');
        const later: string[] = [];
        const second = await ChangeStream.open({ connection: server.url(), slot: 'fo2', publication: 'fo_pub', heartbeat: false, onNotice: (n) => later.push(n) });
        await second.stop();
        assert.match(later.find((n) => n.startsWith('created slot fo2'))!, /\(a failover slot, synchronized to the standbys of standby1\)$/);
        const named = await runCli(['slot', 'list', server.url()]);
        assert.match(named.stderr, /warning: no standby named in synchronized_standby_slots \(standby1\) is streaming: the failover slot\(s\) fo, fo2 may not be on any standby/);
        const off = await ChangeStream.open({ connection: server.url(), slot: 'fo3', publication: 'fo_pub', heartbeat: false, failover: false });
        await off.stop();
        const [three] = await server.query<{ failover: boolean }>(`SELECT failover FROM pg_replication_slots WHERE slot_name = 'fo3'`);
        assert.equal(three!.failover, false, 'failover: false makes an ordinary slot');
      } else {
        assert.equal(row!.failover, null);
        assert.doesNotMatch(created!, /failover/);
        assert.match(line!, /^fo\s.*\s-\s+-$/);
      }
    });
  });
}
