import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { setRoute } from '../../src/events/event-builder.ts';
import { applyEnvelope } from '../../src/sink/cloudevents.ts';
import type { OutboundRecord } from '../../src/sink/outbound-record.ts';

const event = (op: ChangeEvent['op']): ChangeEvent => ({
  id: '0/1A2B3C:1', op, before: null, after: { id: 42 }, ts_ms: 1, transaction: null,
  source: { version: '0', connector: 'postgresql', name: 'shop', ts_ms: Date.UTC(2024, 0, 2, 3, 4, 5), snapshot: 'false', db: 'app', sequence: '[]', schema: 'public', table: 'orders', txId: 7, lsn: 1, xmin: null },
});
const change: OutboundRecord = { id: '0/1A2B3C:1', topic: 'shop.public.orders', key: '{"id":42}', headers: {}, value: '{"op":"c","after":{"id":42}}', event: event('c') };
const outbox: OutboundRecord = { id: '0/1A2B3C:2', topic: 'shipment', key: '42', headers: { message_id: '298c2cc3', type: 'ShipmentShipped' }, value: '{"status":"SHIPPED"}', event: event('m') };

test('structured: the CloudEvent is the value, with the data inside', () => {
  const ce = JSON.parse(applyEnvelope(change, 'cloudevents-structured', 'pgcdc').value);
  assert.deepEqual(ce, {
    specversion: '1.0', id: '0/1A2B3C:1', source: '/pgcdc/shop/app', type: 'io.pgcdc.change.create', datacontenttype: 'application/json',
    subject: 'public.orders', time: '2024-01-02T03:04:05.000Z', data: { op: 'c', after: { id: 42 } },
  });
});

test('outbox records: the outbox type is the CloudEvent type, the aggregate id the subject', () => {
  const ce = JSON.parse(applyEnvelope(outbox, 'cloudevents-structured', 'pgcdc').value);
  assert.deepEqual([ce.type, ce.subject, ce.id, ce.data], ['ShipmentShipped', '42', '0/1A2B3C:2', { status: 'SHIPPED' }]);
});

test('binary: attributes as ce_ headers, the value untouched', () => {
  const record = applyEnvelope(outbox, 'cloudevents-binary', 'pgcdc');
  assert.equal(record.value, outbox.value);
  assert.equal(record.headers.ce_id, '0/1A2B3C:2');
  assert.equal(record.headers.ce_type, 'ShipmentShipped');
  assert.equal(record.headers.ce_specversion, '1.0');
  assert.equal(record.headers.message_id, '298c2cc3', 'outbox headers stay');
  assert.equal(applyEnvelope(change, 'debezium', 'pgcdc'), change);
});

test('debezium-connect: outbox records carry their payload as JSON text typed io.debezium.data.Json and a string key; events without column types are typed from their values', () => {
  const routed = event('m');
  setRoute(routed, { topic: 'shipment', key: '42', headers: { message_id: 'x' }, value: { status: 'SHIPPED' } });
  const record = applyEnvelope({ ...outbox, event: routed }, 'debezium-connect', 'shop');
  assert.deepEqual(JSON.parse(record.value), { schema: { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1 }, payload: '{"status":"SHIPPED"}' });
  assert.deepEqual(JSON.parse(record.key!), { schema: { type: 'string', optional: false }, payload: '42' });
  assert.equal(record.headers.message_id, '298c2cc3', 'outbox headers stay');

  const plain = applyEnvelope({ ...change, event: { ...event('c'), after: { id: 42, price: 1.5, name: 'x', ok: true } } }, 'debezium-connect', 'shop');
  const value = JSON.parse(plain.value) as { schema: { name: string; fields: Array<{ field: string; fields?: Array<{ field: string; type: string }> }> }; payload: { after: unknown } };
  assert.equal(value.schema.name, 'shop.public.orders.Envelope');
  assert.deepEqual(value.schema.fields.find((f) => f.field === 'after')!.fields!.map((f) => [f.field, f.type]), [['id', 'int64'], ['price', 'double'], ['name', 'string'], ['ok', 'boolean']]);
  assert.deepEqual(value.payload.after, { id: 42, price: 1.5, name: 'x', ok: true });
});

test('debezium-connect: a field a transform added (auditData) is a string typed io.debezium.data.Json, in schema and payload, event after event', () => {
  const withAudit = (user: string) => applyEnvelope({ ...change, event: { ...event('c'), auditData: { user, ip: '10.0.0.1' } } }, 'debezium-connect', 'shop');
  const [first, second] = [withAudit('ann'), withAudit('bob')].map((r) => JSON.parse(r.value) as { schema: { fields: Array<{ field: string; type: string; name?: string }> }; payload: { auditData: string } });
  assert.deepEqual(first!.schema.fields.find((f) => f.field === 'auditData'), { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1, field: 'auditData' });
  assert.equal(first!.payload.auditData, '{"user":"ann","ip":"10.0.0.1"}');
  assert.equal(second!.payload.auditData, '{"user":"bob","ip":"10.0.0.1"}');
  assert.deepEqual(second!.schema, first!.schema);
  assert.equal(JSON.parse(applyEnvelope(change, 'debezium-connect', 'shop').value).schema.fields.some((f: { field: string }) => f.field === 'auditData'), false, 'no extra field without the extra');
});
