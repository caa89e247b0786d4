/** `pgcdc slot list|create|drop [URL]`. Reference: docs/cli.md. */
import type { Command } from 'commander';
import { formatLsn } from '../../core/lsn.ts';
import { announceConnection } from '../connection.ts';
import { createSlot, dropSlot, failoverWarnings, findSlot, listSlots, type SlotInfo } from '../../source/slots.ts';
import { DeliveredPositionRecord } from '../../source/delivered-position.ts';
import { SqlConnection } from '../../source/sql-connection.ts';
import { humanSize, notice } from '../output.ts';
import { registerSlotRecover } from './slot-recover.ts';

async function withSql<T>(url: string | undefined, slot: string | undefined, run: (sql: SqlConnection) => Promise<T>): Promise<T> {
  const sql = await SqlConnection.open(announceConnection(url), slot ? { slot } : {});
  try {
    return await run(sql);
  } finally {
    await sql.close();
  }
}

export function slotTable(slots: SlotInfo[]): string {
  const header = ['SLOT', 'PLUGIN', 'DATABASE', 'ACTIVE', 'CONFIRMED LSN', 'RETAINED WAL', 'WAL STATUS', 'FAILOVER', 'SYNCED'];
  const rows = slots.map((s) => [
    s.name,
    s.plugin ?? '-',
    s.database ?? '-',
    s.active ? `yes (pid ${s.activePid})` : 'no',
    s.confirmedFlushLsn === null ? '-' : formatLsn(s.confirmedFlushLsn),
    humanSize(s.retainedWalBytes),
    s.walStatus ?? '-',
    s.failover === null ? '-' : s.failover ? 'yes' : 'no',
    s.synced === null ? '-' : s.synced ? 'yes' : 'no',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function registerSlot(program: Command): void {
  const slot = program.command('slot').description('list, create and drop replication slots');
  slot
    .command('list')
    .description('show every replication slot with its confirmed position and retained WAL')
    .argument('[url]', 'connection URL')
    .option('--json', 'one JSON object per slot')
    .action(async (url: string | undefined, options: { json?: boolean }) => {
      const [slots, walLevel, warnings] = await withSql(url, undefined, async (sql) => {
        const found = await listSlots(sql);
        return [
          found,
          (await sql.query<{ wal_level: string }>(`SELECT current_setting('wal_level') AS wal_level`))[0]!.wal_level,
          await failoverWarnings(sql, found),
        ] as const;
      });
      for (const warning of warnings) notice(warning);
      // No logical slot can exist or be created below wal_level=logical: say so
      // rather than let "no replication slots" read as a healthy empty server.
      if (walLevel !== 'logical') notice(`warning: this server has wal_level=${walLevel}; logical replication slots need wal_level=logical (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)`);
      if (options.json) {
        for (const s of slots) {
          process.stdout.write(`${JSON.stringify({
            ...s,
            confirmedFlushLsn: s.confirmedFlushLsn === null ? null : formatLsn(s.confirmedFlushLsn),
            restartLsn: s.restartLsn === null ? null : formatLsn(s.restartLsn),
          })}\n`);
        }
        return;
      }
      process.stdout.write(slots.length === 0 ? 'no replication slots\n' : `${slotTable(slots)}\n`);
    });
  slot
    .command('create')
    .description('create a logical replication slot')
    .argument('[url]', 'connection URL')
    .option('--slot <name>', 'slot name', 'pgcdc')
    .option('--plugin <name>', 'output plugin: pgoutput, wal2json or test_decoding', 'pgoutput')
    .action(async (url: string | undefined, options: { slot: string; plugin: string }) => {
      const created = await withSql(url, options.slot, (sql) => createSlot(sql, options.slot, options.plugin));
      notice(`created slot ${created.name} (${created.plugin}) at ${created.confirmedFlushLsn === null ? '-' : formatLsn(created.confirmedFlushLsn)}`);
    });
  slot
    .command('drop')
    .description("drop a replication slot (its position is lost) and forget pgcdc's delivered-position record of it")
    .argument('[url]', 'connection URL')
    .requiredOption('--slot <name>', 'slot name')
    .action(async (url: string | undefined, options: { slot: string }) => {
      await withSql(url, options.slot, async (sql) => {
        // A slot already gone (dropped elsewhere, lost in a failover) leaves only the record to forget.
        const exists = (await findSlot(sql, options.slot)) !== undefined;
        if (exists) await dropSlot(sql, options.slot);
        const forgot = await DeliveredPositionRecord.forget(sql, options.slot);
        if (!exists && !forgot) await dropSlot(sql, options.slot); // says the slot does not exist
        notice(exists ? `dropped slot ${options.slot}${forgot ? " and forgot pgcdc's record of it" : ''}` : `slot ${options.slot} was already gone; forgot pgcdc's record of it (next start: a new slot)`);
      });
    });
  registerSlotRecover(slot);
}
