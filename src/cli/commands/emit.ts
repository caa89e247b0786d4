/** `pgcdc emit [URL] --prefix P [--non-transactional] CONTENT`: emit a logical decoding message from a shell. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CdcError } from '../../core/errors.ts';
import { emitMessage, EmitError } from '../../sdk/emit.ts';
import { announceConnection } from '../connection.ts';
import { SqlConnection } from '../../source/sql-connection.ts';
import { usageError } from '../output.ts';

interface EmitOptions {
  prefix: string;
  nonTransactional?: boolean;
}

export function registerEmit(program: Command): void {
  program
    .command('emit')
    .description('write a logical decoding message (pg_logical_emit_message) and print its LSN')
    .argument('<args...>', "[URL] CONTENT: the connection URL (default: DATABASE_URL, then PG* variables) and the message content ('-' reads stdin)")
    .requiredOption('--prefix <prefix>', 'message prefix, e.g. outbox, audit, log')
    .option('--non-transactional', 'write it at once, even if a surrounding transaction rolled back (always the case from a shell)')
    .action(async (args: string[], options: EmitOptions) => {
      if (args.length > 2) throw usageError(`pgcdc emit takes [URL] CONTENT, got ${args.length} arguments (quote the content)`);
      const [url, content] = args.length === 2 ? [args[0], args[1]!] : [undefined, args[0]!];
      const text = content === '-' ? readFileSync(0, 'utf8') : content;
      const sql = await SqlConnection.open(announceConnection(url));
      try {
        const lsn = await emitMessage({ query: (q, p) => sql.query(q, p).then((rows) => ({ rows })) }, {
          prefix: options.prefix,
          content: text,
          transactional: !options.nonTransactional,
        });
        process.stdout.write(`${lsn}\n`);
      } catch (error) {
        if (error instanceof EmitError) throw usageError(error.message);
        throw error instanceof CdcError ? error : new CdcError('PGCDC_POSTGRES', (error as Error).message, { cause: error });
      } finally {
        await sql.close();
      }
    });
}
