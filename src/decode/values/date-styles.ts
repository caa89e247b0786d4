/**
 * Dates, timestamps and intervals printed under any DateStyle and IntervalStyle
 * → the JSON pgoutput gives (pgcdc's replication connection always asks for ISO
 * and iso_8601, so only text-plugin files need this: `pg_recvlogical` prints
 * with whatever the server's settings were).
 *
 *   DateStyle ISO       2013-02-04 10:00:00+00          (unambiguous)
 *             German    04.02.2013 10:00:00 UTC         (always day first)
 *             Postgres  Mon Feb 04 10:00:00 2013 UTC    (month by name)
 *             SQL       02/04/2013 10:00:00 UTC         MDY or DMY: ambiguous
 *             Postgres  02-04-2013 (a date alone)       MDY or DMY: ambiguous
 *
 * Ambiguous forms need the order (`--date-order mdy|dmy`, the DateStyle of the
 * server that wrote the file); without it they are an error that says so, never
 * a guess. Likewise a zone printed as an abbreviation (`CET`, `IST`) needs the
 * server's TimeZone (`--timezone`, time-zones.ts); UTC, GMT and numeric offsets
 * need nothing.
 */
import { CdcError } from '../../core/errors.ts';
import { expandedYear } from './text-parsers.ts';
import { offsetForWallTime } from './time-zones.ts';

export type DateOrder = 'mdy' | 'dmy';

const MONTHS: Record<string, number> = { Jan: 1, Feb: 2, Mar: 3, Apr: 4, May: 5, Jun: 6, Jul: 7, Aug: 8, Sep: 9, Oct: 10, Nov: 11, Dec: 12 };

interface DateParts { year: number; month: number; day: number; bc: boolean }

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function ambiguous(text: string): CdcError {
  return new CdcError('PGCDC_BAD_INPUT', `the date in "${text}" reads month-first or day-first depending on the DateStyle of the server that wrote it: pass --date-order mdy or --date-order dmy`);
}

/** `a`/`b` in the order the DateStyle printed them. */
function ordered(text: string, a: string, b: string, order: DateOrder | undefined): { month: number; day: number } {
  if (order === undefined) throw ambiguous(text);
  return order === 'mdy' ? { month: Number(a), day: Number(b) } : { month: Number(b), day: Number(a) };
}

const ISO_DATE = /^(\d{4,})-(\d\d)-(\d\d)$/;
const GERMAN_DATE = /^(\d\d)\.(\d\d)\.(\d{4,})$/;
const SQL_DATE = /^(\d\d)\/(\d\d)\/(\d{4,})$/;
const POSTGRES_DATE = /^(\d\d)-(\d\d)-(\d{4,})$/;

/** A date in any DateStyle (without its ` BC`), or undefined when it is none of them. */
function dateParts(date: string, bc: boolean, whole: string, order: DateOrder | undefined): DateParts | undefined {
  let m = ISO_DATE.exec(date);
  if (m) return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), bc };
  m = GERMAN_DATE.exec(date);
  if (m) return { year: Number(m[3]), month: Number(m[2]), day: Number(m[1]), bc };
  m = SQL_DATE.exec(date) ?? POSTGRES_DATE.exec(date);
  if (m) return { year: Number(m[3]), ...ordered(whole, m[1]!, m[2]!, order), bc };
  return undefined;
}

/** ISO 8601 as pgcdc writes it: expanded years (astronomical, signed, 6 digits) for BC and past 9999. */
function isoDateOf(astronomical: number, month: number, day: number, expanded: boolean): string {
  return `${expanded ? expandedYear(astronomical) : pad(astronomical, 4)}-${pad(month)}-${pad(day)}`;
}

function isoDateOfParts(p: DateParts): string {
  const astronomical = p.bc ? 1 - p.year : p.year;
  return isoDateOf(astronomical, p.month, p.day, p.bc || p.year > 9999);
}

function splitBc(text: string): { body: string; bc: boolean } {
  return text.endsWith(' BC') ? { body: text.slice(0, -3), bc: true } : { body: text, bc: false };
}

/** A `date` in any DateStyle → ISO 8601 (`2013-02-04`, `-000043-03-15`); infinity stays. */
export function styledDate(text: string, order: DateOrder | undefined): string {
  if (text === 'infinity' || text === '-infinity') return text;
  const { body, bc } = splitBc(text);
  const parts = dateParts(body, bc, text, order);
  return parts === undefined ? text : isoDateOfParts(parts);
}

const TIME = '(\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?)';
const ZONE = '([+-]\\d\\d(?::?\\d\\d){0,2}|[A-Za-z][A-Za-z0-9/_+-]*)';
const ISO_STAMP = new RegExp(`^(\\d{4,}-\\d\\d-\\d\\d) ${TIME}([+-]\\d\\d(?::\\d\\d){0,2})?$`);
const NUMERIC_STAMP = new RegExp(`^(\\d\\d[./-]\\d\\d[./-]\\d{4,}) ${TIME}(?: ${ZONE})?$`);
const POSTGRES_STAMP_MDY = new RegExp(`^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\\d\\d) ${TIME} (\\d{4,})(?: ${ZONE})?$`);
const POSTGRES_STAMP_DMY = new RegExp(`^[A-Z][a-z]{2} (\\d\\d) ([A-Z][a-z]{2}) ${TIME} (\\d{4,})(?: ${ZONE})?$`);

/** Seconds east of UTC for a zone as DateStyles print it; undefined for an abbreviation. */
function zoneOffsetSeconds(zone: string): number | undefined {
  if (/^(UTC|GMT|UT|Z|Etc\/UTC|Etc\/GMT)$/i.test(zone)) return 0;
  const m = /^([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(zone);
  if (!m) return undefined;
  const seconds = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return m[1] === '-' ? -seconds : seconds;
}

/** The offset an abbreviation stood for, from the server's TimeZone; without it, an error that says to give it. */
function abbreviationOffsetSeconds(parts: StampParts, abbreviation: string, text: string, timeZone: string | undefined): number {
  if (timeZone === undefined) {
    throw new CdcError('PGCDC_BAD_INPUT', `the time in "${text}" carries the zone abbreviation ${abbreviation}, which stands for different offsets in different places: pass --timezone with the TimeZone of the server that wrote the file (an IANA name such as Europe/Berlin)`);
  }
  return offsetForWallTime(timeZone, localAsUtc(parts).getTime(), abbreviation);
}

interface StampParts { date: DateParts; time: string; zone: string | undefined }

function stampParts(body: string, bc: boolean, whole: string, order: DateOrder | undefined): StampParts | undefined {
  let m = ISO_STAMP.exec(body) ?? NUMERIC_STAMP.exec(body);
  if (m) {
    const date = dateParts(m[1]!, bc, whole, order);
    return date === undefined ? undefined : { date, time: m[2]!, zone: m[3] };
  }
  m = POSTGRES_STAMP_MDY.exec(body);
  if (m && MONTHS[m[1]!] !== undefined) return { date: { year: Number(m[4]), month: MONTHS[m[1]!]!, day: Number(m[2]), bc }, time: m[3]!, zone: m[5] };
  m = POSTGRES_STAMP_DMY.exec(body);
  if (m && MONTHS[m[2]!] !== undefined) return { date: { year: Number(m[4]), month: MONTHS[m[2]!]!, day: Number(m[1]), bc }, time: m[3]!, zone: m[5] };
  return undefined;
}

/**
 * A `timestamp` (withZone false) or `timestamptz` in any DateStyle → ISO 8601, a
 * timestamptz in UTC with `Z` as pgoutput gives it (`2013-02-04T09:00:00Z`).
 */
export function styledTimestamp(text: string, withZone: boolean, order: DateOrder | undefined, timeZone?: string): string {
  if (text === 'infinity' || text === '-infinity') return text;
  const { body, bc } = splitBc(text);
  const parts = stampParts(body, bc, text, order);
  if (parts === undefined) return text;
  if (!withZone) return `${isoDateOfParts(parts.date)}T${parts.time}`;
  const zone = parts.zone;
  const offset = zone === undefined ? 0 : zoneOffsetSeconds(zone) ?? abbreviationOffsetSeconds(parts, zone, text, timeZone);
  if (offset === 0) return `${isoDateOfParts(parts.date)}T${parts.time}Z`;
  return utcFromLocal(parts, offset);
}

/** The local date and time as if it were UTC, to whole seconds. */
function localAsUtc(parts: StampParts, offsetSeconds = 0): Date {
  const [h, m, s] = parts.time.split(':');
  const at = new Date(0);
  at.setUTCFullYear(parts.date.bc ? 1 - parts.date.year : parts.date.year, parts.date.month - 1, parts.date.day);
  at.setUTCHours(Number(h), Number(m), Number(s!.split('.')[0]) - offsetSeconds);
  return at;
}

/** Moves a local date and time `offset` seconds east of UTC to UTC; the fraction of a second is kept as written. */
function utcFromLocal(parts: StampParts, offset: number): string {
  const whole = parts.time.split(':')[2]!.split('.');
  const at = localAsUtc(parts, offset);
  const astronomical = at.getUTCFullYear();
  const date = isoDateOf(astronomical, at.getUTCMonth() + 1, at.getUTCDate(), astronomical <= 0 || astronomical > 9999);
  const fraction = whole[1] === undefined ? '' : `.${whole[1]}`;
  return `${date}T${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}${fraction}Z`;
}

// ---- intervals ----------------------------------------------------------------------------

/** An interval as PostgreSQL holds it: months, days and microseconds, each signed. */
interface IntervalValue { months: number; days: number; micros: bigint }

const UNIT_MONTHS: Record<string, number> = { year: 12, years: 12, mon: 1, mons: 1 };
const UNIT_DAYS: Record<string, number> = { day: 1, days: 1 };
const UNIT_MICROS: Record<string, bigint> = { hour: 3_600_000_000n, hours: 3_600_000_000n, min: 60_000_000n, mins: 60_000_000n, sec: 1_000_000n, secs: 1_000_000n };

/** `[-]H:MM:SS[.ffffff]` → microseconds. */
function timeMicros(text: string): bigint {
  const negative = text.startsWith('-');
  const [h, m, s] = text.replace(/^[+-]/, '').split(':');
  const [whole, fraction = ''] = s!.split('.');
  const micros = (BigInt(h!) * 3600n + BigInt(m!) * 60n + BigInt(whole!)) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
  return negative ? -micros : micros;
}

/** `[-]6.5` seconds → microseconds, exactly. */
function secondsMicros(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace(/^[+-]/, '').split('.');
  const micros = BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
  return negative ? -micros : micros;
}

/** postgres (`1 year 2 mons -3 days +04:05:06.5`) and postgres_verbose (`@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs ago`). */
function parsePostgresInterval(text: string): IntervalValue | undefined {
  const verbose = text.startsWith('@');
  let body = verbose ? text.slice(1).trim() : text;
  const ago = verbose && body.endsWith(' ago');
  if (ago) body = body.slice(0, -4);
  const value: IntervalValue = { months: 0, days: 0, micros: 0n };
  const tokens = body.split(' ').filter(Boolean);
  if (tokens.length === 1 && tokens[0] === '0') return value; // postgres_verbose prints a zero interval as `@ 0`
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.includes(':')) { value.micros += timeMicros(token); continue; }
    const unit = tokens[++i];
    if (unit === undefined || !/^[+-]?\d+(\.\d+)?$/.test(token)) return undefined;
    if (UNIT_MONTHS[unit] !== undefined) value.months += Number(token) * UNIT_MONTHS[unit]!;
    else if (UNIT_DAYS[unit] !== undefined) value.days += Number(token);
    else if (unit === 'sec' || unit === 'secs') value.micros += secondsMicros(token);
    else if (UNIT_MICROS[unit] !== undefined) value.micros += BigInt(token) * UNIT_MICROS[unit]!;
    else return undefined;
  }
  if (ago) return { months: -value.months, days: -value.days, micros: -value.micros };
  return value;
}

/** sql_standard: `1-2` (years-months), `3 4:05:06.5` (days and time), signed per part when mixed. */
function parseSqlStandardInterval(text: string): IntervalValue | undefined {
  const value: IntervalValue = { months: 0, days: 0, micros: 0n };
  const tokens = text.split(' ').filter(Boolean);
  for (const token of tokens) {
    const ym = /^([+-]?)(\d+)-(\d+)$/.exec(token);
    if (ym) {
      const months = Number(ym[2]) * 12 + Number(ym[3]);
      value.months += ym[1] === '-' ? -months : months;
    } else if (token.includes(':')) {
      value.micros += timeMicros(token);
    } else if (/^[+-]?\d+$/.test(token)) {
      value.days += Number(token);
    } else {
      return undefined;
    }
  }
  return value;
}

/** Formats as PostgreSQL's IntervalStyle iso_8601 does (EncodeInterval). */
function iso8601(value: IntervalValue): string {
  const year = Math.trunc(value.months / 12);
  const month = value.months % 12;
  const negativeTime = value.micros < 0n;
  const abs = negativeTime ? -value.micros : value.micros;
  const sign = (n: bigint) => (negativeTime ? -n : n);
  const hour = sign(abs / 3_600_000_000n);
  const minute = sign((abs / 60_000_000n) % 60n);
  const secondMicros = abs % 60_000_000n;
  if (value.months === 0 && value.days === 0 && value.micros === 0n) return 'PT0S';
  let out = 'P';
  if (year !== 0) out += `${year}Y`;
  if (month !== 0) out += `${month}M`;
  if (value.days !== 0) out += `${value.days}D`;
  if (value.micros !== 0n) out += 'T';
  if (hour !== 0n) out += `${hour}H`;
  if (minute !== 0n) out += `${minute}M`;
  if (secondMicros !== 0n) {
    const whole = secondMicros / 1_000_000n;
    const fraction = String(secondMicros % 1_000_000n).padStart(6, '0').replace(/0+$/, '');
    out += `${negativeTime ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}S`;
  }
  return out;
}

/** An interval in any IntervalStyle → ISO 8601 as pgoutput gives it (`P1Y2M3DT4H5M6.5S`). */
export function styledInterval(text: string): string {
  if (text.startsWith('P') || text === 'infinity' || text === '-infinity') return text;
  const value = text.startsWith('@') || /[a-z]/.test(text) ? parsePostgresInterval(text) : parseSqlStandardInterval(text);
  if (value === undefined) return text;
  // A plain `H:MM:SS` reads the same in postgres and sql_standard style.
  return iso8601(value);
}
