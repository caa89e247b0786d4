import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeEvent, MessageBody } from '../../src/events/change-event.ts';
import { eventMeta } from '../../src/events/event-builder.ts';
import { auditEnricher } from '../../src/transform/audit-enricher.ts';
import { composeTransforms } from '../../src/transform/transform-chain.ts';
import { outboxRouter } from '../../src/transform/outbox-router.ts';
import { DEBEZIUM_TOPICS, toRecord } from '../../src/sink/outbound-record.ts';
import type { DeadLetter, TransactionScope } from '../../src/transform/transform.ts';

const source = (table = '', schema = ''): ChangeEvent['source'] => ({
  version: '0', connector: 'postgresql', name: 'pgcdc', ts_ms: 0, snapshot: 'false', db: 'db', sequence: '[]', schema, table, txId: 9, lsn: 1, xmin: null,
});
const message = (prefix: string, content: string, transactional = true): ChangeEvent => ({
  id: `0/1:${Math.random()}`, op: 'm', source: source(), ts_ms: 0, transaction: null,
  message: { prefix, content, encoding: 'utf8', transactional },
});
const change = (op: ChangeEvent['op'], table: string, after: Record<string, unknown> | null, schema = 'public'): ChangeEvent => ({
  id: `0/2:${Math.random()}`, op, before: null, after: after as ChangeEvent['after'], source: source(table, schema), ts_ms: 0, transaction: null,
});
const scope = (...messages: MessageBody[]): TransactionScope => ({ xid: 9, commitLsn: 1n, messages });
const audit = (content: string): MessageBody => ({ prefix: 'audit', content, encoding: 'utf8', transactional: true });

const SHIPMENT = `{
    "id" : "298c2cc3-71bb-4d2b-b5b4-1b14006d56e6",
    "aggregate_type" : "shipment",
    "aggregate_id" : 42,
    "payload" : { "customer_id" : 7398, "item_id" : 8123, "status" : "SHIPPED", "numberOfPackages" : 3,
      "address" : "Bob Summers, 12 Main St., 90210, Los Angeles/CA, US" }
  }`;

describe('outbox router', () => {
  test("the article's shipment message becomes topic shipment, key 42, header message_id, value the payload", () => {
    const run = composeTransforms([{ name: 'outbox', transform: outboxRouter() }]);
    const { events, deadLetters } = run([message('outbox', SHIPMENT)], undefined);
    assert.equal(deadLetters.length, 0);
    assert.deepEqual(eventMeta(events[0]!)?.route, {
      topic: 'shipment',
      key: '42',
      headers: { message_id: '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6' },
      value: { customer_id: 7398, item_id: 8123, status: 'SHIPPED', numberOfPackages: 3, address: 'Bob Summers, 12 Main St., 90210, Los Angeles/CA, US' },
    });
  });
  test('topic template and the type header', () => {
    const run = composeTransforms([{ name: 'outbox', transform: outboxRouter({ topicTemplate: 'outbox.event.{aggregate_type}' }) }]);
    const { events } = run([message('outbox', '{"id":"a","aggregate_type":"order","aggregate_id":"o-1","type":"OrderPlaced","payload":[1]}')], undefined);
    assert.deepEqual(eventMeta(events[0]!)?.route, { topic: 'outbox.event.order', key: 'o-1', headers: { message_id: 'a', type: 'OrderPlaced' }, value: [1] });
  });
  test('a classic outbox table (Debezium Outbox Event Router columns) gives the same record; deletes are dropped; updates dead-lettered', () => {
    const run = composeTransforms([{ name: 'outbox', transform: outboxRouter({ tables: ['public.outbox'] }) }]);
    const row = { id: '298c2cc3-71bb-4d2b-b5b4-1b14006d56e6', aggregatetype: 'shipment', aggregateid: '42', type: null, payload: { status: 'SHIPPED' } };
    const { events, deadLetters } = run([change('c', 'outbox', row), change('d', 'outbox', null), change('u', 'outbox', row), change('c', 'users', { id: 1 })], undefined);
    assert.equal(events.length, 2, 'the insert and the unrelated table pass; the delete is dropped');
    assert.deepEqual(eventMeta(events[0]!)?.route, { topic: 'shipment', key: '42', headers: { message_id: row.id }, value: { status: 'SHIPPED' } });
    assert.equal(eventMeta(events[1]!)?.route, undefined);
    assert.equal(deadLetters.length, 1);
    assert.match(deadLetters[0]!.reason, /must only be inserted/);
  });
  test('a payload with keys like "10" keeps the order the application wrote (compacted), where a parsed object would move them first', () => {
    const run = composeTransforms([{ name: 'outbox', transform: outboxRouter() }]);
    const content = '{"id": "a", "payload": {"sku": "x", "quantities": {"b-7": 1, "1001": 2, "17": 3}, "note": "a, b: c"}, "aggregate_type": "order", "aggregate_id": 5}';
    const { events } = run([message('outbox', content)], undefined);
    const record = toRecord(events[0]!, DEBEZIUM_TOPICS);
    assert.equal(record.value, '{"sku":"x","quantities":{"b-7":1,"1001":2,"17":3},"note":"a, b: c"}');
    assert.equal(record.topic, 'order');
    // Without such keys the payload is the parsed value, as before.
    const plain = run([message('outbox', '{"id":"b","aggregate_type":"order","aggregate_id":6,"payload":{"z": 1, "a": [1.50]}}')], undefined);
    assert.equal(toRecord(plain.events[0]!, DEBEZIUM_TOPICS).value, '{"z":1,"a":[1.50]}');
    assert.equal(Object.isFrozen(eventMeta(plain.events[0]!)!.route!.value), false);
  });
  test('content that is not JSON, or lacks fields, goes to the dead letters with the reason; the rest flows on', () => {
    const run = composeTransforms([{ name: 'outbox', transform: outboxRouter() }]);
    const good = message('outbox', SHIPMENT);
    const { events, deadLetters } = run([message('outbox', 'not json'), message('outbox', '{"id":"x","payload":{}}'), message('outbox', '[1]'), good, message('other', 'x')], undefined);
    assert.deepEqual(events.map((e) => e.message!.prefix), ['outbox', 'other']);
    assert.equal(deadLetters.length, 3);
    assert.match(deadLetters[0]!.reason, /^outbox message content is not JSON: /);
    assert.equal(deadLetters[1]!.reason, 'outbox record rejected: missing aggregate_type, aggregate_id');
    assert.equal(deadLetters[2]!.reason, 'outbox message content must be a JSON object {id, aggregate_type, aggregate_id, payload}');
    assert.equal(deadLetters[0]!.stage, 'outbox');
  });
});

describe('audit enricher', () => {
  test("the article's audit message is attached to every change of its transaction and not delivered itself", () => {
    const run = composeTransforms([{ name: 'audit', transform: auditEnricher() }]);
    const tx = scope(audit('{ "user" : "bob@example.com", "client" : "10.0.0.1" }'));
    const auditEvent = message('audit', '{ "user" : "bob@example.com", "client" : "10.0.0.1" }');
    const { events } = run([auditEvent, change('c', 'customer', { id: 1 }, 'inventory'), change('c', 'address', { id: 2 }, 'inventory')], tx);
    assert.equal(events.length, 2);
    for (const e of events) assert.deepEqual(e.auditData, { user: 'bob@example.com', client: '10.0.0.1' });
  });
  test('an audit message with a key like "10" keeps its key order when written (its text, compacted)', () => {
    const run = composeTransforms([{ name: 'audit', transform: auditEnricher() }]);
    const content = '{"user": "ann", "roles": {"admin": true, "42": "team"}}';
    const { events } = run([change('c', 't', { id: 1 })], scope(audit(content)));
    assert.equal(toRecord(events[0]!, DEBEZIUM_TOPICS).value.includes('"auditData":{"user":"ann","roles":{"admin":true,"42":"team"}}'), true, toRecord(events[0]!, DEBEZIUM_TOPICS).value);
    assert.deepEqual(JSON.parse(JSON.stringify(events[0]!.auditData)), JSON.parse(content));
  });
  test('changes made before the audit message in the same transaction are enriched too', () => {
    const run = composeTransforms([{ name: 'audit', transform: auditEnricher() }]);
    const { events } = run([change('u', 't', { id: 1 }), message('audit', '{"user":"ann"}')], scope(audit('{"user":"ann"}')));
    assert.deepEqual(events.map((e) => e.auditData), [{ user: 'ann' }]);
  });
  test('several audit messages merge; a custom field; delivering the messages when asked', () => {
    const run = composeTransforms([{ name: 'audit', transform: auditEnricher({ field: 'ctx', deliverMessages: true }) }]);
    const { events } = run([message('audit', '{"user":"a"}'), change('c', 't', { id: 1 })], scope(audit('{"user":"a","ip":"1"}'), audit('{"user":"b"}')));
    assert.equal(events.length, 2);
    assert.deepEqual(events[1]!.ctx, { user: 'b', ip: '1' });
  });
  test('transactions without audit pass unchanged, except tables that require it: those are dead-lettered', () => {
    const run = composeTransforms([{ name: 'audit', transform: auditEnricher({ requireFor: ['public.payments'] }) }]);
    const { events, deadLetters } = run([change('c', 'users', { id: 1 }), change('c', 'payments', { id: 2 })], scope());
    assert.deepEqual(events.map((e) => e.source.table), ['users']);
    assert.equal('auditData' in events[0]!, false);
    assert.equal(deadLetters.length, 1);
    assert.match(deadLetters[0]!.reason, /no audit context in transaction 9: changes to public\.payments require an 'audit' message/);
  });
});

describe('composition', () => {
  test('transforms run in order, may fan out or drop, and a throwing transform dead-letters only its event', () => {
    const letters: DeadLetter[] = [];
    const run = composeTransforms([
      { name: 'split', transform: (e) => (e.source.table === 'twice' ? [e, e] : e) },
      { name: 'boom', transform: (e) => { if (e.source.table === 'bad') throw new Error('kaput'); return e; } },
      { name: 'drop', transform: (e) => (e.source.table === 'gone' ? null : e) },
    ]);
    const result = run([change('c', 'twice', {}), change('c', 'bad', {}), change('c', 'gone', {}), change('c', 'ok', {})], undefined);
    letters.push(...result.deadLetters);
    assert.deepEqual(result.events.map((e) => e.source.table), ['twice', 'twice', 'ok']);
    assert.deepEqual(letters.map((d) => [d.stage, d.reason]), [['boom', 'transform boom failed: kaput']]);
  });
});
