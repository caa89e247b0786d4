/** How the CLI reports errors and notices: one line on stderr, stable exit codes. */
import { styleText } from 'node:util';
import { CdcError, EXIT_CODES, isCdcError } from '../core/errors.ts';

const stderrColor = process.stderr.isTTY === true && process.env.NO_COLOR === undefined;

export function notice(message: string): void {
  process.stderr.write(`${stderrColor ? styleText('dim', `pgcdc: ${message}`) : `pgcdc: ${message}`}\n`);
}

/** Prints one line for `error` and returns the exit code to use. */
export function reportError(error: unknown): number {
  if (isCdcError(error)) {
    const line = `pgcdc: error ${error.code}: ${error.message}`;
    process.stderr.write(`${stderrColor ? styleText('red', line) : line}\n`);
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

/** 1536 → "1536 bytes", 2_500_000 → "2441 kB", as pg_size_pretty prints. */
export function humanSize(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  // pg_size_pretty switches unit once the value reaches 10240 of the smaller one.
  while (Math.abs(value) >= 10 * 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Math.round(value)} ${units[unit]}`;
}
