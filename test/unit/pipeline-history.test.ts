import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { PipelineHistory } from '../../src/console/pipeline-history.ts';
import type { Pipeline } from '../../src/pipeline/pipeline.ts';

test('PipelineHistory: events delivered before the first sample (a backlog drained in the first seconds) show in the first rate; later samples rate what came since', async () => {
  const registry = new Registry();
  const events = new Counter({ name: 'pgcdc_events_total', help: 'events', registers: [registry] });
  const pipeline = { name: 'p', metrics: { registry } } as unknown as Pipeline;
  const history = new PipelineHistory([pipeline]);
  events.inc(150_000); // all delivered before the console took its first sample
  await new Promise((resolve) => setTimeout(resolve, 100));
  history.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const first = history.latest('p')!;
    assert.ok(first.eventsPerSecond > 150_000 / 10, `first rate ${first.eventsPerSecond}`);
    assert.ok(first.eventsPerSecond <= 150_000 / 0.1, `first rate ${first.eventsPerSecond}`);
    assert.deepEqual(history.series('p').eventsPerSecond, [first.eventsPerSecond]);
  } finally {
    history.stop();
  }
});
