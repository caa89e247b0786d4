// The NATS JetStream protocol's own cost per record on this machine: what any
// Node client pays to publish W1-sized records with a PubAck each, before it
// builds a single record.
//
//   node nats-protocol.mjs --port P --subject S --count N [--batch 5000]
//
// One TCP connection to nats-server. Each batch of records is sent as HPUB
// frames prepared once (a 685-byte W1 envelope with a Nats-Msg-Id header; only
// the id and reply subject change, written in place), in one socket write;
// then the batch's PubAcks are counted (control line read for the size, payload
// skipped, a PubAck's first bytes checked). The next batch goes once every
// PubAck of this one is in, as the NATS sink does with one write in flight.
// The stream capturing S must exist. Prints one JSON line: {records,
// microsPerRecord}, this process's CPU from the first frame to the last PubAck.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { W1_EVENT_JSON } from './w1-record.mjs';

const { values } = parseArgs({ options: { port: { type: 'string' }, subject: { type: 'string' }, count: { type: 'string' }, batch: { type: 'string', default: '5000' } } });
const count = Number(values.count);
const batchSize = Number(values.batch);
const envelope = W1_EVENT_JSON;

// HPUB <subject> _FLOOR.<10-digit seq> <header bytes> <total bytes>\r\nNATS/1.0\r\nNats-Msg-Id: <10-digit id>\r\n\r\n<value>\r\n
const header = 'NATS/1.0\r\nNats-Msg-Id: 0000000000\r\n\r\n';
const frameText = (seq) => `HPUB ${values.subject} _FLOOR.${String(seq).padStart(10, '0')} ${header.length} ${header.length + envelope.length}\r\n${header.replace('0000000000', String(seq).padStart(10, '0'))}${envelope}\r\n`;
const frameLength = Buffer.byteLength(frameText(0));
const replyAt = frameText(0).indexOf('_FLOOR.') + 7;
const idAt = frameText(0).indexOf('Nats-Msg-Id: ') + 13;
const frames = Buffer.alloc(frameLength * batchSize);
for (let i = 0; i < batchSize; i++) frames.write(frameText(i), i * frameLength);
function stamp(buffer, at, n) { for (let d = 9; d >= 0; d--) { buffer[at + d] = 0x30 + (n % 10); n = Math.floor(n / 10); } }

const socket = connect({ host: '127.0.0.1', port: Number(values.port) });
socket.setNoDelay(true);
let leftover;
let acked = 0;
let wake;
let ready;
const CRLF = Buffer.from('\r\n');
const PUBACK = Buffer.from('{"stream"');
socket.on('data', (chunk) => {
  const data = leftover === undefined ? chunk : Buffer.concat([leftover, chunk]);
  leftover = undefined;
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) break;
    if (data[at] === 0x4d /* MSG <subject> <sid> <size> */) {
      let size = 0;
      let i = lineEnd - 1;
      for (let scale = 1; data[i] !== 0x20; i--, scale *= 10) size += (data[i] - 0x30) * scale;
      const end = lineEnd + 2 + size + 2;
      if (end > data.length) break;
      for (let k = 0; k < PUBACK.length; k++) if (data[lineEnd + 2 + k] !== PUBACK[k]) throw new Error(`not a PubAck: ${data.toString('latin1', lineEnd + 2, end)}`);
      acked++;
      at = end;
      if (acked === wake?.until) wake.resolve();
      continue;
    }
    const line = data.toString('latin1', at, lineEnd);
    at = lineEnd + 2;
    if (line === 'PING') socket.write('PONG\r\n');
    else if (line === 'PONG') ready?.();
    else if (line.startsWith('-ERR')) throw new Error(line);
  }
  if (at < data.length) leftover = Buffer.from(data.subarray(at));
});
await new Promise((resolve) => { ready = resolve; socket.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\nSUB _FLOOR.> 1\r\nPING\r\n`); });

const start = process.cpuUsage();
for (let sent = 0; sent < count;) {
  const n = Math.min(batchSize, count - sent);
  for (let i = 0; i < n; i++) { stamp(frames, i * frameLength + replyAt, sent + i); stamp(frames, i * frameLength + idAt, sent + i); }
  const done = new Promise((resolve) => { wake = { until: sent + n, resolve }; });
  socket.write(n === batchSize ? frames : frames.subarray(0, n * frameLength));
  await done;
  sent += n;
}
const used = process.cpuUsage(start);
console.log(JSON.stringify({ records: count, microsPerRecord: (used.user + used.system) / count }));
socket.end();
