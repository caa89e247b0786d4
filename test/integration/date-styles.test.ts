/**
 * Every DateStyle and IntervalStyle decodes to the values pgoutput gives. For each
 * value, a real server prints it under every style (what pg_recvlogical writes
 * into a wal2json or test_decoding file), and pgcdc's reading of that text must
 * equal its reading of the ISO text pgoutput sends (DateStyle ISO, IntervalStyle
 * iso_8601, TimeZone UTC). Time zones: UTC, one printed as a numeric offset, and
 * zones printed as abbreviations (read with the server's TimeZone), across the
 * hours their clocks turn back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { CdcError } from '../../src/core/errors.ts';
import { Oid } from '../../src/decode/values/builtin-types.ts';
import { ValueConverter } from '../../src/decode/values/convert.ts';
import { TypeRegistry } from '../../src/decode/values/type-registry.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';

const VALUES: Record<'date' | 'timestamp' | 'timestamptz' | 'interval', string[]> = {
  date: ['2013-02-04', '2000-02-29', '0044-03-15 BC', '0001-01-01 BC', '12345-06-07', 'infinity', '-infinity'],
  timestamp: ['2013-02-04 10:00:00', '2013-02-04 23:59:59.999999', '0044-03-15 12:00:00 BC', '12345-06-07 01:02:03.5', 'infinity', '-infinity'],
  timestamptz: ['2013-02-04 10:00:00+00', '2013-02-04 00:30:00.25+00', '2013-12-31 23:30:00+00', '0044-03-15 12:00:00+00 BC', 'infinity'],
  interval: ['1 year 2 months 3 days 04:05:06.5', '-1 day', '-1 year -2 months +3 days -04:05:06', '0', '1 mon', '-00:00:01.5', '2 days 00:00:00.000001', '-3 years', '100 hours', '-1 day +1 hour', '14 months', '1 day -00:00:00.25'],
};
const OIDS = { date: Oid.date, timestamp: Oid.timestamp, timestamptz: Oid.timestamptz, interval: Oid.interval } as const;
const DATE_STYLES = ['ISO', 'SQL', 'Postgres', 'German'].flatMap((style) => ['MDY', 'DMY', 'YMD'].map((order) => `${style}, ${order}`));
const INTERVAL_STYLES = ['postgres', 'postgres_verbose', 'sql_standard', 'iso_8601'];
const TIME_ZONES = ['UTC', 'Etc/GMT-3'];

let server: TestPostgres;
let client: pg.Client;
before(async () => {
  server = await startPostgres(latestMajor());
  client = new pg.Client({ connectionString: server.url() });
  await client.connect();
});
after(async () => {
  await client?.end();
  await server?.stop();
});

/** How the server prints `literal::type` under the given settings. */
async function printed(type: string, literal: string, settings: Record<string, string>): Promise<string> {
  for (const [name, value] of Object.entries(settings)) await client.query(`SELECT set_config($1, $2, false)`, [name, value]);
  return (await client.query<{ t: string }>(`SELECT ($1::${type})::text AS t`, [literal])).rows[0]!.t;
}

const pgoutput = new ValueConverter(new TypeRegistry());

describe('dates, timestamps and intervals in every style read as pgoutput gives them', () => {
  test('every DateStyle (ISO, SQL, Postgres, German × MDY, DMY, YMD) in UTC and at a numeric offset', async () => {
    const failures: string[] = [];
    for (const type of ['date', 'timestamp', 'timestamptz'] as const) {
      for (const literal of VALUES[type]) {
        const iso = await printed(type, literal, { DateStyle: 'ISO, YMD', TimeZone: 'UTC' });
        const expected = JSON.stringify(pgoutput.convert(OIDS[type], iso));
        for (const style of DATE_STYLES) {
          for (const zone of type === 'timestamptz' ? TIME_ZONES : ['UTC']) {
            const text = await printed(type, literal, { DateStyle: style, TimeZone: zone });
            const order = style.endsWith('DMY') ? 'dmy' : 'mdy';
            const actual = JSON.stringify(new ValueConverter(new TypeRegistry(), { anyDateStyle: { dateOrder: order } }).convert(OIDS[type], text));
            if (actual !== expected) failures.push(`${type} ${literal} under ${style}, ${zone}: "${text}" → ${actual}, expected ${expected}`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  test('every IntervalStyle (postgres, postgres_verbose, sql_standard, iso_8601)', async () => {
    const failures: string[] = [];
    for (const literal of VALUES.interval) {
      const expected = JSON.stringify(pgoutput.convert(Oid.interval, await printed('interval', literal, { IntervalStyle: 'iso_8601' })));
      for (const style of INTERVAL_STYLES) {
        const text = await printed('interval', literal, { IntervalStyle: style });
        const actual = JSON.stringify(new ValueConverter(new TypeRegistry(), { anyDateStyle: { dateOrder: undefined } }).convert(Oid.interval, text));
        if (actual !== expected) failures.push(`interval ${literal} under ${style}: "${text}" → ${actual}, expected ${expected}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('zones printed as abbreviations (CET/CEST, EST/EDT, IST, ACDT, BST, LMT) read with --timezone, also in the hour a clock turns back; without it, an error that says so', async () => {
    const instants = ['2013-02-04 10:00:00+00', '2013-07-01 12:00:00.5+00', '2013-10-27 00:30:00+00', '2013-10-27 01:30:00+00', '2013-11-03 05:30:00+00', '2013-11-03 06:30:00+00',
      '2013-04-07 15:30:00+00', '2013-04-07 16:30:00+00', '1850-01-01 12:00:00+00', '0044-03-15 12:00:00+00 BC'];
    const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Adelaide', 'Europe/London', 'Europe/Dublin', 'America/Sao_Paulo'];
    const failures: string[] = [];
    let abbreviations = 0;
    for (const zone of zones) {
      const reader = new ValueConverter(new TypeRegistry(), { anyDateStyle: { dateOrder: 'mdy', timeZone: zone } });
      for (const literal of instants) {
        const expected = JSON.stringify(pgoutput.convert(Oid.timestamptz, await printed('timestamptz', literal, { DateStyle: 'ISO, YMD', TimeZone: 'UTC' })));
        for (const style of ['SQL, MDY', 'Postgres, MDY', 'German, DMY', 'ISO, MDY']) {
          const text = await printed('timestamptz', literal, { DateStyle: style, TimeZone: zone });
          if (/[A-Z]{3,5}$/.test(text.replace(/ BC$/, ''))) abbreviations++;
          let actual: string;
          try { actual = JSON.stringify(reader.convert(Oid.timestamptz, text)); } catch (error) { actual = (error as Error).message; }
          if (actual !== expected) failures.push(`${literal} under ${style}, ${zone}: "${text}" → ${actual}, expected ${expected}`);
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(abbreviations > 100, `the server printed abbreviations (${abbreviations})`);
    const withoutZone = new ValueConverter(new TypeRegistry(), { anyDateStyle: { dateOrder: 'mdy' } });
    const text = await printed('timestamptz', '2013-02-04 10:00:00+00', { DateStyle: 'SQL, MDY', TimeZone: 'Europe/Berlin' });
    assert.throws(() => withoutZone.convert(Oid.timestamptz, text), (error: unknown) => error instanceof CdcError && error.code === 'PGCDC_BAD_INPUT' && /zone abbreviation CET.*pass --timezone/.test(error.message));
  });

  test('a date only the order can read (SQL and Postgres styles) without --date-order is an error that says so, not a guess', async () => {
    const reader = new ValueConverter(new TypeRegistry(), { anyDateStyle: { dateOrder: undefined } });
    for (const style of ['SQL, DMY', 'Postgres, MDY']) {
      const text = await printed('date', '2013-02-04', { DateStyle: style });
      assert.throws(() => reader.convert(Oid.date, text), (error: unknown) => error instanceof CdcError && error.code === 'PGCDC_BAD_INPUT' && /pass --date-order mdy or --date-order dmy/.test(error.message));
    }
    for (const style of ['German, MDY', 'Postgres, DMY', 'ISO, DMY']) {
      const text = await printed('timestamp', '2013-02-04 10:00:00', { DateStyle: style });
      assert.equal(reader.convert(Oid.timestamp, text), '2013-02-04T10:00:00', `${style} needs no order: "${text}"`);
    }
  });
});
