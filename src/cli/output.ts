/** How the CLI reports errors and notices: one line on stderr, stable exit codes. */
import { humanBytes } from '../core/bytes.ts';
import { CdcError, EXIT_CODES, isCdcError } from '../core/errors.ts';
import { errorLine, notice } from '../observe/notice.ts';

export { notice };

/** Prints one line for `error` and returns the exit code to use. */
export function reportError(error: unknown): number {
  if (isCdcError(error)) {
    const line = `pgcdc: error ${error.code}: ${error.message}`;
    process.stderr.write(`${errorLine(line)}\n`);
    if (process.env.PGCDC_DEBUG) process.stderr.write(`${(error.cause as Error | undefined)?.stack ?? error.stack}\n`);
    return error.exitCode;
  }
  const e = error as Error;
  process.stderr.write(`pgcdc: unexpected error: ${e?.message ?? String(error)} (set PGCDC_DEBUG=1 for a stack trace)\n`);
  if (process.env.PGCDC_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return EXIT_CODES.failure;
}

export function usageError(message: string): CdcError {
  return new CdcError('PGCDC_BAD_ARGUMENT', message);
}

/** Sizes as pg_size_pretty prints them; "-" when unknown. */
export function humanSize(bytes: number | null): string {
  return bytes === null ? '-' : humanBytes(bytes);
}
