/**
 * Sizes as pgcdc's settings take them: a number of bytes, or text with a unit
 * (`16MiB`, `512KiB`, `1GiB`, `100B`). Shared by the config file's schema and
 * the command line's options; no validator library here, so that `tail` does
 * not load one.
 */
export type Size = number | string;

/** What a size written as text looks like. */
export const SIZE_TEXT = /^\d+(\.\d+)?\s*(B|KiB|MiB|GiB)$/;

/** 1024 → 1024; "16MiB" → 16,777,216; "512KiB" → 524,288. */
export function sizeBytes(value: Size): number {
  if (typeof value === 'number') return value;
  const unit = /[A-Za-z]+$/.exec(value)![0] as 'B' | 'KiB' | 'MiB' | 'GiB';
  return Math.round(Number.parseFloat(value) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[unit]);
}
