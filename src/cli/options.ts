/** Parsers for option values, each failing with a one-line usage error. */
import { isLsnText, parseLsn, type Lsn } from '../core/lsn.ts';
import { SIZE_TEXT, sizeBytes } from '../core/size.ts';
import { usageError } from './output.ts';

export function positiveInteger(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw usageError(`${name} expects a positive whole number, got "${value}"`);
    return n;
  };
}

/** A size as the config file takes one (`16MiB`, `512KiB`, `1GiB`, or bytes), in bytes. */
export function sizeOption(name: string): (value: string) => number {
  return (value) => {
    const bytes = /^\d+$/.test(value) ? Number(value) : SIZE_TEXT.test(value) ? sizeBytes(value) : NaN;
    if (!(bytes >= 1)) throw usageError(`${name} expects a size like 16MiB, 512KiB or 1GiB (or a number of bytes), got "${value}"`);
    return bytes;
  };
}

export function positiveSeconds(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw usageError(`${name} expects a number of seconds above 0, got "${value}"`);
    return n;
  };
}

export function lsnOption(name: string): (value: string) => Lsn {
  return (value) => {
    if (!isLsnText(value)) throw usageError(`${name} expects an LSN like 0/16B3C8, got "${value}"`);
    return parseLsn(value);
  };
}

/** Comma-separated list; repeated options accumulate. */
export function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}
