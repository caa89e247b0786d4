#!/usr/bin/env node
/** The `pgcdc` command line. Reference: docs/cli.md. */
import { Command, CommanderError } from 'commander';
import { EXIT_CODES } from '../core/errors.ts';
import { PGCDC_VERSION } from '../core/version.ts';
import { registerDemo } from './commands/demo.ts';
import { registerEmit } from './commands/emit.ts';
import { registerRead } from './commands/read.ts';
import { registerRun } from './commands/run.ts';
import { registerSlot } from './commands/slot.ts';
import { registerSnapshot } from './commands/snapshot.ts';
import { registerTail } from './commands/tail.ts';
import { reportError } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('pgcdc')
    .description('Change data capture for PostgreSQL: logical replication to Debezium-compatible events')
    .version(PGCDC_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerRun(program);
  registerTail(program);
  registerSlot(program);
  registerSnapshot(program);
  registerRead(program);
  registerEmit(program);
  registerDemo(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage mistakes already printed their line.
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    return reportError(error);
  }
}

const invokedDirectly = process.argv[1] !== undefined && /[\\/]cli[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    // After an error, exit now: its line is written (stderr is synchronous on
    // pipes and files), and a native client that never connected (librdkafka)
    // would otherwise hold the process for its own 30 s timeout.
    if (code !== 0) process.exit(code);
    process.exitCode = code;
  });
}
