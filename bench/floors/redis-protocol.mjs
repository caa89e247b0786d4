// The Redis Streams protocol's own cost per record on this machine: what any
// Node client pays to XADD W1-sized records in MULTI/EXEC groups and read the
// replies, before it builds a single record.
//
//   node redis-protocol.mjs --port P --key K --count N [--batch 5000]
//
// One TCP connection to redis-server. Each group of records is prepared once as
// MULTI, an XADD per record (the W1 envelope as `value`, the event id as `id`,
// an explicit entry id; only the ids change, written in place) and EXEC, and
// sent in one socket write, as the Redis sink sends a write; the next group
// goes once the EXEC reply is in. Replies are counted (QUEUED per command, then
// one entry id per record), not turned into strings. Prints one JSON line:
// {records, microsPerRecord}, this process's CPU from the first command to the
// last reply.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { W1_EVENT_JSON } from './w1-record.mjs';

const { values } = parseArgs({ options: { port: { type: 'string' }, key: { type: 'string' }, count: { type: 'string' }, batch: { type: 'string', default: '5000' } } });
const count = Number(values.count);
const batchSize = Number(values.batch);
const envelope = W1_EVENT_JSON;

const bulk = (text) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
// Entry id <10 digits>-1 and event id 0/<10 digits>:1: ten digits stamped in place per record.
const command = (n) => {
  const digits = String(n).padStart(10, '1');
  return `*9\r\n${bulk('XADD')}${bulk(values.key)}${bulk(`${digits}-1`)}${bulk('id')}${bulk(`0/${digits}:1`)}${bulk('key')}${bulk(`{"id":${digits}}`)}${bulk('value')}${bulk(envelope)}`;
};
const MULTI = '*1\r\n$5\r\nMULTI\r\n';
const EXEC = '*1\r\n$4\r\nEXEC\r\n';
const length = Buffer.byteLength(command(0));
const stamps = [...command(0).matchAll(/1111111110/g)].map((m) => m.index);
const group = Buffer.alloc(MULTI.length + length * batchSize + EXEC.length);
group.write(MULTI, 0);
for (let i = 0; i < batchSize; i++) group.write(command(0), MULTI.length + i * length);
group.write(EXEC, MULTI.length + length * batchSize);
function stamp(at, n) { for (let d = 9; d >= 0; d--) { group[at + d] = 0x30 + (n % 10); n = Math.floor(n / 10); } }

const socket = connect({ host: '127.0.0.1', port: Number(values.port) });
socket.setNoDelay(true);
await new Promise((resolve) => socket.once('connect', resolve));
let leftover;
let replies = 0; // top-level replies and EXEC's items
let wake;
socket.on('data', (chunk) => {
  const data = leftover === undefined ? chunk : Buffer.concat([leftover, chunk]);
  leftover = undefined;
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf(13, at);
    if (lineEnd < 0 || lineEnd + 1 >= data.length) break;
    const type = data[at];
    if (type === 0x2d) throw new Error(data.toString('latin1', at, lineEnd));
    if (type === 0x24) { // $<len>: skip the bulk's bytes
      let size = 0;
      for (let i = at + 1; i < lineEnd; i++) size = size * 10 + data[i] - 0x30;
      if (lineEnd + 2 + size + 2 > data.length) break;
      at = lineEnd + 2 + size + 2;
    } else {
      at = lineEnd + 2; // +OK, +QUEUED, *<n>
    }
    if (type !== 0x2a) replies++;
    if (replies === wake?.until) wake.resolve();
  }
  if (at < data.length) leftover = Buffer.from(data.subarray(at));
});

const start = process.cpuUsage();
for (let sent = 0; sent < count;) {
  const n = Math.min(batchSize, count - sent);
  for (let i = 0; i < n; i++) for (const s of stamps) stamp(MULTI.length + i * length + s, 1_000_000_000 + sent + i);
  // OK, a QUEUED per XADD, then EXEC's array of n entry ids.
  const done = new Promise((resolve) => { wake = { until: replies + 1 + 2 * n, resolve }; });
  if (n === batchSize) socket.write(group);
  else socket.write(Buffer.concat([group.subarray(0, MULTI.length + n * length), Buffer.from(EXEC)]));
  await done;
  sent += n;
}
const used = process.cpuUsage(start);
console.log(JSON.stringify({ records: count, microsPerRecord: (used.user + used.system) / count }));
socket.end();
