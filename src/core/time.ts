/**
 * Postgres timestamps on the replication protocol are microseconds since the
 * Postgres epoch, 2000-01-01T00:00:00Z. They are converted here, and only here.
 */
const POSTGRES_EPOCH_UNIX_MICROS = 946_684_800_000_000n;

/** Postgres-epoch microseconds → Unix epoch milliseconds (what Debezium's `ts_ms` holds). */
export function postgresMicrosToUnixMs(micros: bigint): number {
  return Number((micros + POSTGRES_EPOCH_UNIX_MICROS) / 1000n);
}

/** Unix epoch milliseconds → Postgres-epoch microseconds (for standby status updates). */
export function unixMsToPostgresMicros(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 1000n - POSTGRES_EPOCH_UNIX_MICROS;
}
