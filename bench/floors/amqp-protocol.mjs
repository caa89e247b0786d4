// AMQP 0-9-1's own cost per record on this machine: what any Node client pays
// to publish W1-sized records to RabbitMQ on a confirm channel and count the
// broker's confirms, before it builds a single record.
//
//   node amqp-protocol.mjs --port P --exchange X --routing-key K --count N [--batch 5000]
//
// One TCP connection (guest/guest, vhost /), channel 1 in confirm mode. Each
// group of records is prepared once as the RabbitMQ sink encodes a message:
// basic.publish, a content header (content type, a headers table with
// pgcdc-key, persistent, message id, timestamp) and one body frame holding the
// W1 envelope; only the ids change, written in place. A group goes out in one
// socket write, as the sink sends a write, and the next once every message of
// it is confirmed (basic.ack, one at a time or "multiple"). Frames are read in
// place, not turned into objects. Prints one JSON line: {records,
// microsPerRecord}, this process's CPU from the first publish to the last ack.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { W1_EVENT_JSON } from './w1-record.mjs';

const { values } = parseArgs({ options: { port: { type: 'string' }, exchange: { type: 'string' }, 'routing-key': { type: 'string' }, count: { type: 'string' }, batch: { type: 'string', default: '5000' } } });
const count = Number(values.count);
const batchSize = Number(values.batch);

// ---- frames (only what this needs) ------------------------------------------
const shortString = (text) => { const b = Buffer.from(text); return Buffer.concat([Buffer.from([b.length]), b]); };
const longString = (text) => { const b = Buffer.from(text); const n = Buffer.alloc(4); n.writeUInt32BE(b.length); return Buffer.concat([n, b]); };
const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(v)); return b; };
function frame(type, channel, payload) {
  return Buffer.concat([Buffer.from([type]), u16(channel), u32(payload.length), payload, Buffer.from([0xce])]);
}
const method = (channel, classId, methodId, args) => frame(1, channel, Buffer.concat([u16(classId), u16(methodId), args]));

// One message, with ten digits to stamp per id: message id 0/<digits>:1, key {"id":<digits>}.
const DIGITS = '1111111110';
function message() {
  const body = Buffer.from(W1_EVENT_JSON);
  const key = `{"id":${DIGITS}}`;
  const headers = Buffer.concat([shortString('pgcdc-key'), Buffer.from('S'), longString(key)]);
  const properties = Buffer.concat([
    shortString('application/json'),
    u32(headers.length), headers,
    Buffer.from([2]), // persistent
    shortString(`0/${DIGITS}:1`),
    u64(1_796_329_374),
  ]);
  const flags = 0x8000 | 0x2000 | 0x1000 | 0x0080 | 0x0040; // content type, headers, delivery mode, message id, timestamp
  return Buffer.concat([
    method(1, 60, 40, Buffer.concat([u16(0), shortString(values.exchange), shortString(values['routing-key']), Buffer.from([0])])),
    frame(2, 1, Buffer.concat([u16(60), u16(0), u64(body.length), u16(flags), properties])),
    frame(3, 1, body),
  ]);
}
const one = message();
const stamps = [];
for (let at = one.indexOf(DIGITS); at >= 0; at = one.indexOf(DIGITS, at + 1)) stamps.push(at);
const group = Buffer.alloc(one.length * batchSize);
for (let i = 0; i < batchSize; i++) one.copy(group, i * one.length);
function stamp(at, n) { for (let d = 9; d >= 0; d--) { group[at + d] = 0x30 + (n % 10); n = Math.floor(n / 10); } }

// ---- connection -------------------------------------------------------------
const socket = connect({ host: '127.0.0.1', port: Number(values.port) });
socket.setNoDelay(true);
await new Promise((resolve) => socket.once('connect', resolve));
let leftover;
let expecting; // { classId, methodId, resolve } during the handshake
// Confirms: settled[tag] = 1; `head` is the first tag not yet settled.
const settled = new Uint8Array(count + 2);
let head = 1;
let wake;
socket.on('data', (chunk) => {
  const data = leftover === undefined ? chunk : Buffer.concat([leftover, chunk]);
  leftover = undefined;
  let at = 0;
  while (data.length - at >= 8) {
    const size = data.readUInt32BE(at + 3);
    if (data.length - at < 8 + size) break;
    if (data[at] === 1) {
      const classId = data.readUInt16BE(at + 7);
      const methodId = data.readUInt16BE(at + 9);
      if (classId === 60 && (methodId === 80 || methodId === 120)) {
        if (methodId === 120) throw new Error('the broker nacked a message');
        const tag = Number(data.readBigUInt64BE(at + 11));
        const multiple = (data[at + 19] & 1) === 1;
        if (multiple) for (let t = head; t <= tag; t++) settled[t] = 1;
        else settled[tag] = 1;
        while (settled[head] === 1) head++;
        if (wake !== undefined && head > wake.until) { const w = wake; wake = undefined; w.resolve(); }
      } else if (classId === 10 && methodId === 50) {
        throw new Error(`the broker closed the connection: ${data.toString('latin1', at + 14, at + 14 + data[at + 13])}`);
      } else if (expecting?.classId === classId && expecting.methodId === methodId) {
        const e = expecting;
        expecting = undefined;
        e.resolve(data.subarray(at + 11, at + 7 + size));
      }
    }
    at += 8 + size;
  }
  if (at < data.length) leftover = Buffer.from(data.subarray(at));
});
const expect = (classId, methodId) => new Promise((resolve) => { expecting = { classId, methodId, resolve }; });

let reply = expect(10, 10);
socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
await reply; // connection.start
reply = expect(10, 30);
socket.write(method(0, 10, 11, Buffer.concat([u32(0), shortString('PLAIN'), longString('\u0000guest\u0000guest'), shortString('en_US')])));
const tune = await reply;
reply = expect(10, 41);
socket.write(Buffer.concat([
  method(0, 10, 31, Buffer.concat([tune.subarray(0, 2), tune.subarray(2, 6), u16(0)])), // tune-ok: channel max, frame max, no heartbeats
  method(0, 10, 40, Buffer.concat([shortString('/'), shortString(''), Buffer.from([0])])),
]));
await reply;
reply = expect(20, 11);
socket.write(method(1, 20, 10, shortString('')));
await reply;
reply = expect(85, 11);
socket.write(method(1, 85, 10, Buffer.from([0])));
await reply;

const start = process.cpuUsage();
for (let sent = 0; sent < count;) {
  const n = Math.min(batchSize, count - sent);
  for (let i = 0; i < n; i++) for (const s of stamps) stamp(i * one.length + s, 1_000_000_000 + sent + i);
  const done = new Promise((resolve) => { wake = { until: sent + n, resolve }; });
  socket.write(n === batchSize ? group : group.subarray(0, n * one.length));
  await done;
  sent += n;
}
const used = process.cpuUsage(start);
console.log(JSON.stringify({ records: count, microsPerRecord: (used.user + used.system) / count }));
// connection.close, then its close-ok: a socket just ended is reset by the broker.
socket.on('error', () => undefined);
reply = expect(10, 51);
socket.write(method(0, 10, 50, Buffer.concat([u16(200), shortString('floor done'), u16(0), u16(0)])));
await reply;
socket.end();
