import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { loadConfigFile, parseConfig } from '../../src/config/load-config.ts';
import { durationMs, sizeBytes } from '../../src/config/schema.ts';
import { streamOptionsFor } from '../../src/pipeline/stream-options.ts';
import { DEFAULT_MEMORY_BUDGET_BYTES } from '../../src/assemble/transaction-assembler.ts';

const problems = (raw: unknown, env: NodeJS.ProcessEnv = {}): string => {
  try {
    parseConfig(raw, env);
  } catch (error) {
    assert.ok(error instanceof CdcError && error.code === 'PGCDC_CONFIG');
    return error.message;
  }
  assert.fail('expected a config error');
};

describe('config', () => {
  test('each error names its path and what was expected, all at once', () => {
    const message = problems({ source: { url: 'postgresql://h/db', slot: 'Bad-Slot' }, sink: { type: 'nats', servers: 'localhost' }, heartbeat: { interval: 'soon' } });
    assert.match(message, /^config: 3 problems:/);
    assert.match(message, /\n {2}source\.slot: expected 1-63 lower-case letters, digits and underscores/);
    assert.match(message, /\n {2}sink\.servers: expected a list of host:port/);
    assert.match(message, /\n {2}heartbeat\.interval: expected a duration like 500ms, 10s or 1m/);
    assert.equal(problems({ source: {}, sink: { type: 'pulsar' } }), 'config: sink.type: expected a sink type: kafka, nats, rabbitmq, redis, http, postgres, file or stdout');
    assert.equal(problems({ source: {}, sink: { type: 'kafka', brokers: ['kafka-1'] } }), 'config: sink.brokers.0: expected host:port');
    assert.equal(problems({ source: {}, sink: { type: 'kafka' } }), 'config: sink.brokers: expected a list of host:port');
    assert.match(problems({ source: {}, sink: { type: 'rabbitmq', url: 'http://x' } }), /sink\.url: expected amqp:\/\/\[user:password@\]host:port\[\/vhost\]/);
    assert.match(problems({ source: {}, sink: { type: 'file', path: '/x' }, snapshot: { mode: 'sometimes' } }), /snapshot\.mode: /);
    assert.match(problems({ source: {}, sink: { type: 'file', path: '/x' }, transforms: [42] }), /transforms\.0: /);
    assert.equal(problems({ pipelines: [] }), 'config: pipelines: expected at least one pipeline');
    assert.match(problems({ pipelines: [{ source: {}, sink: { type: 'file' } }] }), /pipelines\.0\.sink\.path:/);
  });
  test("problems in pgcdc's words, whatever the kind: no validator wording leaks", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'file' } }, /^config: sink\.path: is required \(a string\)$/],
      [{ source: { url: 'postgresql://h/db', slot: 3 }, sink: { type: 'stdout' } }, /^config: source\.slot: expected a string, found 3$/],
      [{ source: { url: 'postgresql://h/db', bogus: 1 }, sink: { type: 'stdout' } }, /^config: source: unknown setting bogus \(check the spelling against docs\/run\.md\)$/],
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'kafka', brokers: ['k:9092'], compression: 'brotli' } }, /^config: sink\.compression: expected one of none, gzip, snappy, lz4, zstd, found "brotli"$/],
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, snapshot: { chunkSize: -1 } }, /^config: snapshot\.chunkSize: must be above 0$/],
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, heartbeat: 'yes' }, /^config: heartbeat: expected false or a mapping \(key: value\), found a string$/],
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, onRejected: 'ignore' }, /^config: onRejected: expected one of dead-letter, stop, found "ignore"$/],
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, metrics: { port: 70000 } }, /^config: metrics\.port: must be at most 65535$/],
      [{ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, filter: { ops: 'insert' } }, /^config: filter\.ops: expected a list, found a string$/],
    ];
    for (const [raw, expected] of cases) {
      const message = problems(raw);
      assert.match(message, expected);
      assert.doesNotMatch(message, /Invalid (input|option)|Too (small|big)|Unrecognized key|received/, message);
    }
  });
  test('a pipeline without source.url needs DATABASE_URL or PG* variables: no silent localhost', () => {
    assert.equal(problems({ source: { slot: 'a' }, sink: { type: 'stdout' } }),
      'config: source.url: is required (a postgresql:// URL), unless DATABASE_URL or the PG* variables (PGHOST, PGPORT, ...) are set');
    assert.match(problems({ pipelines: [{ source: { url: 'postgresql://h/a', slot: 'a' }, sink: { type: 'stdout' } }, { source: { slot: 'b' }, sink: { type: 'stdout' } }] }), /^config: pipelines\.1\.source\.url: is required/);
    for (const env of [{ DATABASE_URL: 'postgresql://h/db' }, { PGHOST: '/run/postgresql' }, { PGDATABASE: 'app' }]) {
      assert.equal(parseConfig({ source: { slot: 'a' }, sink: { type: 'stdout' } }, env).pipelines[0]!.source.url, undefined);
    }
  });
  test('${ENV} interpolation for secrets; a missing variable is named, its value never printed', () => {
    const config = parseConfig({ source: { url: '${DATABASE_URL}' }, sink: { type: 'nats', servers: ['${NATS_HOST:-127.0.0.1}:4222'], password: '${NATS_PASSWORD}' } },
      { DATABASE_URL: 'postgresql://app:s3cret@db/app', NATS_PASSWORD: 'hunter2' });
    const pipeline = config.pipelines[0]!;
    assert.equal(pipeline.source.url, 'postgresql://app:s3cret@db/app');
    assert.deepEqual(pipeline.sink.type === 'nats' && [pipeline.sink.servers, pipeline.sink.password], [['127.0.0.1:4222'], 'hunter2']);
    const message = problems({ source: { url: '${DATABASE_URL}' }, sink: { type: 'stdout', extra: '${NATS_PASSWORD}' } }, { NATS_PASSWORD: 'hunter2' });
    assert.match(message, /source\.url: environment variable DATABASE_URL is not set \(used as \$\{DATABASE_URL\}\)/);
    assert.doesNotMatch(message, /hunter2/);
  });
  test('defaults; single-pipeline shorthand and several pipelines; YAML and JSON files', () => {
    const config = parseConfig({ source: { url: 'postgresql://h/db' }, sink: { type: 'file', path: '/tmp/x' } });
    const p = config.pipelines[0]!;
    assert.deepEqual([p.source.slot, p.source.plugin, p.onRejected, p.heartbeat && p.heartbeat.interval, config.metrics], ['pgcdc', 'pgoutput', 'dead-letter', '10s', false]);
    const dir = mkdtempSync(join(tmpdir(), 'pgcdc-config-'));
    writeFileSync(join(dir, 'pgcdc.yaml'), 'pipelines:\n  - source: { url: postgresql://h/a, slot: a }\n    sink: { type: stdout }\n  - source: { url: postgresql://h/b, slot: b }\n    sink: { type: file, path: /tmp/b.jsonl }\nmetrics: { port: 9187 }\n');
    const yaml = loadConfigFile(join(dir, 'pgcdc.yaml'));
    assert.deepEqual(yaml.pipelines.map((x) => x.source.slot), ['a', 'b']);
    assert.deepEqual(yaml.metrics, { host: '127.0.0.1', port: 9187, console: true });
    // The console's token: long enough to be one, never echoed back in the error.
    assert.throws(() => parseConfig({ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, metrics: { port: 1, token: 'short-secret' } }), (e: Error) => /metrics\.token: use at least 16 characters/.test(e.message) && !e.message.includes('short-secret'));
    assert.deepEqual(parseConfig({ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' }, metrics: { port: 1, host: '0.0.0.0', token: 'a-long-enough-token', console: false } }).metrics, { port: 1, host: '0.0.0.0', token: 'a-long-enough-token', console: false });
    writeFileSync(join(dir, 'bad.yaml'), 'source: [unclosed\n');
    assert.throws(() => loadConfigFile(join(dir, 'bad.yaml')), /bad\.yaml: not valid YAML/);
    writeFileSync(join(dir, 'pgcdc.json'), JSON.stringify({ source: { url: 'postgresql://h/db' }, sink: { type: 'stdout' } }));
    assert.equal(loadConfigFile(join(dir, 'pgcdc.json')).pipelines.length, 1);
    assert.throws(() => loadConfigFile(join(dir, 'missing.yaml')), /cannot read config .*missing\.yaml/);
  });
  test('durations', () => {
    assert.deepEqual([durationMs(250), durationMs('500ms'), durationMs('10s'), durationMs('1.5m')], [250, 500, 10_000, 90_000]);
  });
  test('sizes: source.memoryBudget, its default, and a wrong unit named', () => {
    assert.deepEqual([sizeBytes(4096), sizeBytes('512B'), sizeBytes('512KiB'), sizeBytes('16MiB'), sizeBytes('1.5GiB')], [4096, 512, 524_288, 16_777_216, 1_610_612_736]);
    const base = { sink: { type: 'stdout' } };
    const parsed = parseConfig({ ...base, source: { url: 'postgresql://h/db' } }).pipelines[0]!;
    // Unset, the engine's own default applies (one default for the library and `pgcdc run`).
    const defaults = streamOptionsFor(parsed, [], { onSnapshot: () => {}, onIncrementalSnapshot: () => {}, onNotice: () => {} });
    assert.equal(defaults.memoryBudgetBytes, undefined);
    assert.equal(defaults.spillDir, undefined);
    assert.equal(DEFAULT_MEMORY_BUDGET_BYTES, 16 * 1024 * 1024);
    const set = parseConfig({ ...base, source: { url: 'postgresql://h/db', memoryBudget: '64MiB', spillDir: '/var/tmp/pgcdc' } }).pipelines[0]!;
    const options = streamOptionsFor(set, [], { onSnapshot: () => {}, onIncrementalSnapshot: () => {}, onNotice: () => {} });
    assert.deepEqual([options.memoryBudgetBytes, options.spillDir], [64 * 1024 * 1024, '/var/tmp/pgcdc']);
    assert.match(problems({ ...base, source: { url: 'postgresql://h/db', memoryBudget: '16MB' } }), /source\.memoryBudget: expected a size like 16MiB, 512KiB or 1GiB/);
    assert.match(problems({ ...base, source: { url: 'postgresql://h/db', memoryBudget: 0 } }), /source\.memoryBudget/);
    assert.match(problems({ ...base, source: { url: 'postgresql://h/db', memoryBudget: '0MiB' } }), /source\.memoryBudget: expected a size above 0/);
  });
});
