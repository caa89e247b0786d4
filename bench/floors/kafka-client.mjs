// The Kafka client's own cost per record on this machine: what `pgcdc run` →
// Kafka pays in @confluentinc/kafka-javascript (librdkafka) whatever pgcdc
// does around it.
//
//   node kafka-client.mjs --brokers B --topic T --count N [--batch 5000]
//
// It produces N records shaped like W1's (a 685-byte W1 Debezium envelope as the
// value, `{"id":n}` as the key) with the producer settings of pgcdc's Kafka
// sink (idempotent, acks=all, murmur2, linger.ms 2, a delivery report per
// record polled in the background), as the sink does: each batch's values in
// one Buffer, handed over as views of it, and the next batch only once every
// delivery report of this one is in. pgcdc's decoding, event building and JSON
// are not here: the values are one prepared envelope, its bytes copied per
// batch. Prints one JSON line: {records, cpuSeconds, microsPerRecord,
// mainThreadMicrosPerRecord}: the CPU of this process (librdkafka's threads
// included) from the first produce to the last report, and of its JavaScript
// thread alone (produce calls, delivery reports).
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { W1_EVENT_JSON } from './w1-record.mjs';

const require = createRequire(import.meta.url);
const { Producer } = require('@confluentinc/kafka-javascript');
const { values } = parseArgs({ options: { brokers: { type: 'string' }, topic: { type: 'string' }, count: { type: 'string' }, batch: { type: 'string', default: '5000' } } });
const count = Number(values.count);
const batchSize = Number(values.batch);

const envelope = W1_EVENT_JSON;
const value = Buffer.from(envelope);

const producer = new Producer({
  'bootstrap.servers': values.brokers, 'client.id': 'pgcdc-floor', partitioner: 'murmur2_random',
  'enable.idempotence': true, acks: -1, 'compression.codec': 'none', retries: 5, 'message.timeout.ms': 30000,
  'linger.ms': 2, log_level: 4, dr_cb: true,
});
let reported = 0;
let failed;
let wake;
producer.on('delivery-report', (error, report) => { if (error && !failed) failed = error; reported++; if (reported === report.opaque.until) wake(); });
await new Promise((resolve, reject) => producer.connect(null, (error) => (error ? reject(error) : resolve())));
producer.setPollInBackground(true);

const start = process.cpuUsage();
const startMain = process.threadCpuUsage();
for (let sent = 0; sent < count;) {
  const n = Math.min(batchSize, count - sent);
  // The batch's values in one Buffer, as the sink encodes them.
  const bytes = Buffer.allocUnsafe(value.length * n);
  for (let i = 0; i < n; i++) value.copy(bytes, i * value.length);
  const tally = { until: sent + n };
  const done = new Promise((resolve) => { wake = resolve; });
  for (let i = 0; i < n; i++) producer.produce(values.topic, null, bytes.subarray(i * value.length, (i + 1) * value.length), `{"id":${sent + i}}`, 0, tally, undefined);
  await done;
  if (failed) throw failed;
  sent += n;
}
const used = process.cpuUsage(start);
const usedMain = process.threadCpuUsage(startMain);
const cpuSeconds = (used.user + used.system) / 1e6;
const mainSeconds = (usedMain.user + usedMain.system) / 1e6;
console.log(JSON.stringify({ records: count, cpuSeconds, microsPerRecord: (cpuSeconds * 1e6) / count, mainThreadMicrosPerRecord: (mainSeconds * 1e6) / count }));
await new Promise((resolve) => producer.disconnect(5000, resolve));
