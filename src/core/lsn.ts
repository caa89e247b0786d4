/**
 * Log sequence numbers (LSNs): byte positions in the write-ahead log.
 *
 * LSNs are 64-bit, so they are `bigint` everywhere in pgcdc and are compared as
 * numbers, never as strings ("0/9" sorts after "0/10" as a string). They are printed
 * the way Postgres prints them: two hexadecimal halves without zero padding,
 * upper case, e.g. `0/16B3C8`.
 */
import { CdcError } from './errors.ts';

declare const lsnBrand: unique symbol;

/**
 * A WAL position. Branded so that a byte count, a sequence number or an xid
 * (all bigint or number) cannot be passed where a position is meant; make one
 * with `parseLsn`, `lsn(...)` from a number the protocol gave, or `lsnPlus`.
 */
export type Lsn = bigint & { readonly [lsnBrand]: 'Lsn' };

/** A position from a 64-bit value the protocol or the catalog gave as a number. */
export function lsn(value: bigint): Lsn {
  return value as Lsn;
}

/** The position `bytes` after `position` (an end position from a start and a length). */
export function lsnPlus(position: Lsn, bytes: bigint | number): Lsn {
  return (position + BigInt(bytes)) as Lsn;
}

/** No position: before any WAL (InvalidXLogRecPtr). */
export const LSN_ZERO = 0n as Lsn;

/** Formats an LSN as Postgres does (`%X/%X`): `0/16B3C8`. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses `X/Y` (Postgres text form). Throws a `CdcError` (PGCDC_BAD_ARGUMENT) naming the bad input. */
export function parseLsn(text: string): Lsn {
  const match = LSN_TEXT.exec(text.trim());
  if (!match) throw new CdcError('PGCDC_BAD_ARGUMENT', `not an LSN: ${JSON.stringify(text)} (expected two hexadecimal numbers like 0/16B3C8)`);
  return ((BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)) as Lsn;
}

/** True when `text` is an LSN in Postgres text form. */
export function isLsnText(text: string): boolean {
  return LSN_TEXT.test(text.trim());
}
