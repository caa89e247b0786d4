import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { StreamMetrics, tallyAccepted } from '../../src/observe/metrics.ts';
import { mergedMetrics, mergeExpositions } from '../../src/observe/merge-metrics.ts';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import type { StreamStats } from '../../src/engine/change-stream.ts';

const stats = (slot: string) => ({ slot, safeLsn: 16n, lastReceivedLsn: 32n, queuedEvents: 0, memoryUsed: 0, bytesReceived: 1, heartbeatsSent: 0, retainedWalBytes: 100, walStatus: 'reserved', snapshot: undefined, incrementalSnapshot: undefined }) as unknown as StreamStats;

function pipelineMetrics(slot: string): StreamMetrics {
  const metrics = new StreamMetrics(slot, () => stats(slot));
  const event = { id: '0/1:1', op: 'c', ts_ms: Date.now(), source: { schema: 'public', table: 'orders', ts_ms: Date.now() } } as unknown as ChangeEvent;
  metrics.observeSinkWrite('file', 0.002, [tallyAccepted([{ value: '{}', event }], [])]);
  return metrics;
}

describe('mergedMetrics', () => {
  test("two pipelines' registries: each family once, with both slots' samples (Registry.merge refuses this)", async () => {
    const a = pipelineMetrics('a');
    const b = pipelineMetrics('b');
    assert.throws(() => Registry.merge([a.registry, b.registry]), /already been registered/);
    const text = await mergedMetrics([a.registry, b.registry]);
    for (const family of ['pgcdc_events_total', 'pgcdc_sink_write_seconds', 'pgcdc_lag_bytes', 'pgcdc_slot_wal_status']) {
      assert.equal(text.split('\n').filter((l) => l.startsWith(`# HELP ${family} `)).length, 1, family);
      assert.equal(text.split('\n').filter((l) => l.startsWith(`# TYPE ${family} `)).length, 1, family);
    }
    assert.match(text, /^pgcdc_events_total\{slot="a",table="public\.orders",op="c"\} 1$/m);
    assert.match(text, /^pgcdc_events_total\{slot="b",table="public\.orders",op="c"\} 1$/m);
    assert.match(text, /^pgcdc_sink_write_seconds_count\{slot="b",sink="file"\} 1$/m);
    // Every sample sits under its own family's HELP (a histogram's _bucket, _sum and _count under its name).
    let family = '';
    for (const line of text.split('\n').filter(Boolean)) {
      const head = /^# HELP (\S+)/.exec(line);
      if (head) { family = head[1]!; continue; }
      if (line.startsWith('#')) continue;
      assert.ok(line.startsWith(family), `${line} under ${family}`);
    }
  });

  test('one registry comes out as prom-client wrote it; nothing in, nothing out', async () => {
    const a = pipelineMetrics('a');
    assert.equal(await mergedMetrics([a.registry]), `${(await a.registry.metrics()).trimEnd()}\n`.replace(/\n\n/g, '\n'));
    assert.equal(mergeExpositions([]), '\n');
  });
});
