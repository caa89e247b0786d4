/**
 * Logs of `pgcdc run`: JSON lines (pino) for machines, or readable lines on a
 * terminal. `auto` picks readable when stderr is a TTY. Messages never carry
 * secrets: connection strings are logged with their password removed.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import { notice } from './notice.ts';

export type LogFormat = 'auto' | 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export function createLogger(format: LogFormat, level = 'info'): Logger {
  const json = format === 'json' || (format === 'auto' && process.stderr.isTTY !== true);
  if (json) {
    const log: PinoLogger = pino({ level, base: { app: 'pgcdc' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
    return {
      info: (message, fields) => log.info(fields ?? {}, message),
      warn: (message, fields) => log.warn(fields ?? {}, message),
      error: (message, fields) => log.error(fields ?? {}, message),
    };
  }
  const line = (prefix: string, message: string, fields?: LogFields) =>
    notice(`${prefix}${message}${fields && Object.keys(fields).length ? ` ${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}` : ''}`);
  return {
    info: (message, fields) => line('', message, fields),
    warn: (message, fields) => line('warning: ', message, fields),
    error: (message, fields) => line('error: ', message, fields),
  };
}
