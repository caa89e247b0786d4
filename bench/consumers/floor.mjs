// The floor of a Node.js consumer on this machine (issue 17's CPU target): what
// a Node program that writes the full envelope with JSON.stringify pays to drain
// W1 before it decodes a single column.
//
//   node floor.mjs --conn URL --slot S --endpos LSN --pub P [--json]
//
// It reads the slot with pgcdc's own replication reader (built, dist/): the same
// bulk socket reads, read linger and once-a-second acknowledgements as
// `pgcdc tail`, and decodes nothing. With --json (as `npm run bench` runs it) it
// writes, for every change, the W1 event pgcdc writes for that kind of change
// (insert and update: the full row; delete: the key), made by JSON.stringify
// from a prepared object with its id and LSN changed, into 64 KiB writes to
// stdout: the output alone, with no decoding, no value conversion and no event
// building. Without --json it only reads; that is not a floor: a reader with
// nothing to do wakes for every few messages and spends more in the kernel than
// it saves (docs/benchmarks.md, ninth stop).
// Reports "after N events" on stderr, as `pgcdc tail` does.
import { parseArgs } from 'node:util';
import { writeSync } from 'node:fs';
import { ReplicationConnection } from '../../dist/source/replication-connection.js';
import { resolveConnection } from '../../dist/source/connection-config.js';
import { parseLsn, formatLsn } from '../../dist/core/lsn.js';

const { values } = parseArgs({ options: { conn: { type: 'string' }, slot: { type: 'string' }, endpos: { type: 'string' }, pub: { type: 'string', default: 'bench_pub' }, json: { type: 'boolean', default: false } } });
const end = parseLsn(values.endpos);

// One W1 event of each shape, as `pgcdc tail --format json` writes it.
const row = { id: 150001, sku: 'SKU-000150001', qty: 1, price: '500.01', payload: { n: 150001, name: 'item number 150001', note: 'lorem ipsum dolor sit amet 1ea3d1d3bd51ccbb3da578b97394238d', tags: ['alpha', 'beta', 'tag-10'], attrs: { size: 1, color: 'green', weight_g: 701 } }, updated_at: '2026-12-03T19:52:52.805186Z' };
const envelope = (op, before, after) => ({
  id: '0/52D2320:1', op, before, after,
  source: { version: '0.1.0', connector: 'postgresql', name: 'pgcdc', ts_ms: 1796327572809, snapshot: 'false', db: 'postgres', sequence: '["86844192","86801336"]', schema: 'public', table: 'bench_items', txId: 2226, lsn: 86801336, xmin: null },
  ts_ms: 1796327572809,
  transaction: { id: '2226:86844192', total_order: 1, data_collection_order: 1 },
});
const written = { 0x49: envelope('c', null, row), 0x55: envelope('u', null, row), 0x44: envelope('d', { id: 150001 }, null) };

let parts = [];
let length = 0;
function flush() {
  if (parts.length === 0) return;
  const buffer = Buffer.from(parts.join(''), 'utf8');
  for (let at = 0; at < buffer.length;) at += writeSync(1, buffer, at);
  parts = [];
  length = 0;
}

let changes = 0;
let lastReceived = 0n;
let done = false;
const connection = await ReplicationConnection.open(resolveConnection(values.conn));
const finish = async () => {
  if (done) return;
  done = true;
  flush();
  session.sendStatus(lastReceived);
  await session.end();
  await connection.close();
  process.stderr.write(`floor: stopped (end) after ${changes} events; slot ${values.slot} at ${formatLsn(lastReceived)}\n`);
  process.exit(0);
};
const session = connection.startReplication(values.slot, 0n /* the slot's confirmed position */, { proto_version: '1', publication_names: values.pub }, {
  onXLogData(header, buffer, from) {
    if (header.walEnd > lastReceived) lastReceived = header.walEnd;
    const kind = buffer[from];
    if (!done && (kind === 0x49 || kind === 0x55 || kind === 0x44)) {
      changes++;
      if (values.json) {
        const event = written[kind];
        event.id = `0/52D2320:${changes}`;
        event.source.lsn = Number(header.walStart);
        const line = `${JSON.stringify(event)}\n`;
        parts.push(line);
        length += line.length;
        if (length >= 65536) flush();
      }
    }
    if (header.walStart >= end) void finish(); // the change at END is counted, as pgcdc's --until-lsn does
  },
  onKeepalive(keepalive) {
    if (keepalive.walEnd > lastReceived) lastReceived = keepalive.walEnd;
    if (keepalive.walEnd >= end && !done) void finish();
  },
  onChunkEnd() {},
  onEnd(error) {
    if (error && !done) { process.stderr.write(`floor: ${error.message}\n`); process.exit(1); }
  },
});
setInterval(() => session.sendStatus(lastReceived), 1000).unref();
