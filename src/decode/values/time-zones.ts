/**
 * Zone abbreviations in text-plugin files (`CET`, `EDT`, `IST`): PostgreSQL
 * prints them under the SQL, Postgres and German DateStyles for the server's
 * TimeZone. An abbreviation alone is ambiguous (`IST` is India, Ireland or
 * Israel; `CST` is US Central or China), so pgcdc never guesses: given the
 * server's TimeZone (`--timezone Europe/Berlin`), a wall-clock time is placed
 * with the zone's rules from the IANA database Node carries (Intl). In the hour
 * a clock turns back, the abbreviation tells the two readings apart.
 */

const offsetFormats = new Map<string, Intl.DateTimeFormat>();
const nameFormats = new Map<string, Intl.DateTimeFormat[]>();
/** Locales whose short zone names between them cover the abbreviations PostgreSQL prints for the common zones. */
const NAME_LOCALES = ['en-US', 'en-GB', 'en-AU', 'en-IN', 'en-IE', 'en-NZ', 'en-CA'];

/** True when Node knows the zone (an IANA name such as `Europe/Berlin`). */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** JavaScript dates end at ±8.64e15 ms; beyond, the rules of the nearest representable year stand in (tzdata has none that far). */
const MAX_MS = 8.64e15 - 86_400_000 * 366;

function zoneName(format: Intl.DateTimeFormat, utcMs: number): string {
  return format.formatToParts(new Date(Math.max(-MAX_MS, Math.min(MAX_MS, utcMs)))).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** Seconds east of UTC in `zone` at the instant `utcMs`. */
function offsetSecondsAt(zone: string, utcMs: number): number {
  let format = offsetFormats.get(zone);
  if (format === undefined) offsetFormats.set(zone, format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }));
  const m = /^GMT(?:([+-])(\d{1,2})(?::(\d\d))?(?::(\d\d))?)?$/.exec(zoneName(format, utcMs));
  if (m === null || m[1] === undefined) return 0;
  const seconds = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return m[1] === '-' ? -seconds : seconds;
}

function hasAbbreviation(zone: string, utcMs: number, abbreviation: string): boolean {
  let formats = nameFormats.get(zone);
  if (formats === undefined) nameFormats.set(zone, formats = NAME_LOCALES.map((locale) => new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' })));
  return formats.some((format) => zoneName(format, utcMs) === abbreviation);
}

/**
 * Seconds east of UTC that `zone` had at the wall-clock time `wallMs` (the
 * local time read as if it were UTC), printed with `abbreviation`. Where the
 * wall-clock time happened twice, the reading whose abbreviation matches wins;
 * if neither matches, the earlier one (PostgreSQL's own choice for such input).
 */
export function offsetForWallTime(zone: string, wallMs: number, abbreviation: string): number {
  const candidates = new Set([offsetSecondsAt(zone, wallMs - 86_400_000), offsetSecondsAt(zone, wallMs), offsetSecondsAt(zone, wallMs + 86_400_000)]);
  const consistent = [...candidates].filter((offset) => offsetSecondsAt(zone, wallMs - offset * 1000) === offset).sort((a, b) => b - a);
  if (consistent.length === 0) return offsetSecondsAt(zone, wallMs);
  return consistent.find((offset) => hasAbbreviation(zone, wallMs - offset * 1000, abbreviation)) ?? consistent[0]!;
}
