import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { applyEnvelope } from '../../src/sink/cloudevents.ts';
import type { OutboundRecord } from '../../src/sink/outbound-record.ts';

const event = (op: ChangeEvent['op']): ChangeEvent => ({
  id: '0/1A2B3C:1', op, before: null, after: { id: 42 }, ts_ms: 1, transaction: null,
  source: { version: '0', connector: 'postgresql', name: 'shop', ts_ms: Date.UTC(2024, 0, 2, 3, 4, 5), snapshot: 'false', db: 'app', sequence: '[]', schema: 'public', table: 'orders', txId: 7, lsn: 1, xmin: null },
});
const change: OutboundRecord = { id: '0/1A2B3C:1', topic: 'shop.public.orders', key: '{"id":42}', headers: {}, value: '{"op":"c","after":{"id":42}}', event: event('c') };
const outbox: OutboundRecord = { id: '0/1A2B3C:2', topic: 'shipment', key: '42', headers: { message_id: '298c2cc3', type: 'ShipmentShipped' }, value: '{"status":"SHIPPED"}', event: event('m') };

test('structured: the CloudEvent is the value, with the data inside', () => {
  const ce = JSON.parse(applyEnvelope(change, 'cloudevents-structured').value);
  assert.deepEqual(ce, {
    specversion: '1.0', id: '0/1A2B3C:1', source: '/pgcdc/shop/app', type: 'io.pgcdc.change.create', datacontenttype: 'application/json',
    subject: 'public.orders', time: '2024-01-02T03:04:05.000Z', data: { op: 'c', after: { id: 42 } },
  });
});

test('outbox records: the outbox type is the CloudEvent type, the aggregate id the subject', () => {
  const ce = JSON.parse(applyEnvelope(outbox, 'cloudevents-structured').value);
  assert.deepEqual([ce.type, ce.subject, ce.id, ce.data], ['ShipmentShipped', '42', '0/1A2B3C:2', { status: 'SHIPPED' }]);
});

test('binary: attributes as ce_ headers, the value untouched', () => {
  const record = applyEnvelope(outbox, 'cloudevents-binary');
  assert.equal(record.value, outbox.value);
  assert.equal(record.headers.ce_id, '0/1A2B3C:2');
  assert.equal(record.headers.ce_type, 'ShipmentShipped');
  assert.equal(record.headers.ce_specversion, '1.0');
  assert.equal(record.headers.message_id, '298c2cc3', 'outbox headers stay');
  assert.equal(applyEnvelope(change, 'debezium'), change);
});
