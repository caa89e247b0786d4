/**
 * The complete JSON lines of a file a sink is writing: text after the last
 * newline is a write in progress (or torn by a kill, cut off by the sink at its
 * next start), not a record yet, so it is left out, as a tailing reader would.
 */
import { existsSync, readFileSync } from 'node:fs';

export function jsonLines<T = unknown>(file: string): T[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete.split('\n').filter(Boolean).map((line) => JSON.parse(line) as T);
}
