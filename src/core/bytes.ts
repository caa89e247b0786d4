/** 1536 → "1536 bytes", 2_500_000 → "2441 kB", as pg_size_pretty prints sizes. */
export function humanBytes(bytes: number): string {
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

/**
 * Whether `buffer` holds `expected` at `start`. A loop, not Buffer.compare: for
 * the few bytes of a protocol word, a call into C++ costs more than the
 * comparison (0.6% of `pgcdc run` → NATS for its PubAck check, once per record).
 */
export function bytesAt(buffer: Uint8Array, start: number, expected: Uint8Array): boolean {
  if (buffer.length - start < expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (buffer[start + i] !== expected[i]) return false;
  return true;
}
