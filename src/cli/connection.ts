/** Resolves the connection a command uses and says which one when the user did not name it. */
import { connectionNotice, resolveConnection, type ConnectionTarget } from '../source/connection-config.ts';
import { notice } from './output.ts';

export function announceConnection(url: string | undefined, say: (message: string) => void = notice): ConnectionTarget {
  const target = resolveConnection(url);
  const line = connectionNotice(target);
  if (line !== undefined) say(line);
  return target;
}
