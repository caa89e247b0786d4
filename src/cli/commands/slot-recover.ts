/**
 * `pgcdc slot recover --config FILE`: what `source.onSlotLost: resnapshot` does
 * at a start, done once on the operator's word, for a pipeline that stopped with
 * PGCDC_SLOT_LOST: a new slot, a `pgcdc.gap` event to the sink, the tables read
 * again in the new slot's exported snapshot; it exits once the sink confirmed the
 * last row. `pgcdc run` then streams on from the new slot. Reference: docs/cli.md.
 */
import type { Command } from 'commander';
import type { PipelineConfig } from '../../config/schema.ts';
import { CdcError } from '../../core/errors.ts';
import { formatLsn, parseLsn } from '../../core/lsn.ts';
import { resolveConnection } from '../../source/connection-config.ts';
import { findSlot } from '../../source/slots.ts';
import { SqlConnection } from '../../source/sql-connection.ts';
import { notice } from '../output.ts';

/** Why the pipeline's slot counts as lost, or undefined when it does not. */
async function lostBecause(config: PipelineConfig): Promise<string | undefined> {
  const slot = config.source.slot;
  const sql = await SqlConnection.open(resolveConnection(config.source.url), { slot });
  try {
    const existing = await findSlot(sql, slot);
    if (existing?.walStatus === 'lost') return `invalidated by the server after ${existing.confirmedFlushLsn === null ? 'an unknown position' : formatLsn(existing.confirmedFlushLsn)}`;
    if (existing !== undefined) return undefined;
    const [table] = await sql.query<{ present: boolean }>(`SELECT to_regclass('pgcdc.delivered') IS NOT NULL AS present`);
    if (!table!.present) return undefined;
    const [row] = await sql.query<{ lsn: string }>('SELECT lsn::text AS lsn FROM pgcdc.delivered WHERE slot = $1', [slot]);
    return row === undefined ? undefined : `gone, though pgcdc delivered its changes up to ${formatLsn(parseLsn(row.lsn))}`;
  } finally {
    await sql.close();
  }
}

async function recover(config: PipelineConfig): Promise<void> {
  const { createPipeline } = await import('../../pipeline/pipeline.ts'); // not at the top: see run.ts
  const pipeline = createPipeline({ ...config, source: { ...config.source, onSlotLost: 'resnapshot' } });
  pipeline.on('notice', (message) => notice(message));
  let failure: Error | undefined;
  const finished = new Promise<void>((resolve) => {
    pipeline.on('snapshot', (progress) => { if (progress.done) resolve(); });
    pipeline.on('error', (error) => { failure = error; resolve(); });
  });
  await pipeline.start();
  if (pipeline.health === 'standby') {
    await pipeline.stop();
    throw new CdcError('PGCDC_SLOT_IN_USE', `another pgcdc instance holds the lease on slot ${config.source.slot}; stop it (or let it recover with source.onSlotLost: resnapshot) before recovering by hand`);
  }
  await finished;
  await pipeline.stop();
  if (failure !== undefined) throw failure;
  notice(`${pipeline.name}: recovered: a pgcdc.gap event and every row read again were delivered (${pipeline.events} events); pgcdc run streams on from the new slot`);
}

export function registerSlotRecover(slot: Command): void {
  slot
    .command('recover')
    .description('recover a lost slot now, as source.onSlotLost: resnapshot would: a new slot, a pgcdc.gap event, the tables read again; then exit')
    .requiredOption('-c, --config <file>', 'the pipelines\' config (as for pgcdc run)')
    .option('--pipeline <name>', 'only this pipeline (its name, or its slot)')
    .action(async (options: { config: string; pipeline?: string }) => {
      const config = await (await import('../../config/load-config.ts')).loadConfig(options.config);
      const chosen = config.pipelines.filter((p) => options.pipeline === undefined || p.name === options.pipeline || p.source.slot === options.pipeline);
      if (chosen.length === 0) throw new CdcError('PGCDC_BAD_ARGUMENT', `no pipeline named ${options.pipeline} in ${options.config}`);
      for (const pipeline of chosen) {
        const why = await lostBecause(pipeline);
        if (why === undefined) {
          notice(`slot ${pipeline.source.slot} is not lost: nothing to recover`);
          continue;
        }
        notice(`slot ${pipeline.source.slot} was ${why}: recovering`);
        await recover(pipeline);
      }
    });
}
