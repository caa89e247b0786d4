/**
 * A notice: one dim line on stderr, `pgcdc: ...`. The CLI's notices and the
 * readable form of `pgcdc run`'s logs are both these lines, so they live here,
 * below the CLI (observe must not import cli).
 */
import { styleText } from 'node:util';

const stderrColor = process.stderr.isTTY === true && process.env.NO_COLOR === undefined;

export function notice(message: string): void {
  process.stderr.write(`${stderrColor ? styleText('dim', `pgcdc: ${message}`) : `pgcdc: ${message}`}\n`);
}

/** Red on a terminal, plain otherwise: for the one error line the CLI prints. */
export function errorLine(line: string): string {
  return stderrColor ? styleText('red', line) : line;
}
