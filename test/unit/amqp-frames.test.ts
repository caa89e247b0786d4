/**
 * pgcdc's AMQP 0-9-1 frames against another implementation: amqplib's codec
 * (a development dependency, as the tests read RabbitMQ with it) decodes what
 * pgcdc encodes, and encodes what pgcdc must read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ByteWriter } from '../../src/core/byte-writer.ts';
import {
  AmqpFrameReader, ArgumentReader, FRAME_BODY, FRAME_HEADER, FRAME_METHOD, Method, Property, beginContentHeader, beginMethod, beginTable,
  bodySizeOfHeader, endFrame, endTable, fillContentHeaderBodySize, messageIdOfHeader, writeBody, writeSingleFrameBody, writePublish, writeShortString, writeStringField, writeTable, type AmqpFrame,
} from '../../src/sink/amqp-frames.ts';

interface DecodedFrame { id?: number; channel: number; size?: number; fields?: Record<string, unknown>; content?: Buffer }
const amqplibDir = fileURLToPath(new URL('../../node_modules/amqplib/lib/', import.meta.url));
const require = createRequire(import.meta.url);
const amqplibFrame = require(`${amqplibDir}frame.js`) as {
  parseFrame(bin: Buffer, max: number): { type: number; channel: number; payload: Buffer; rest: Buffer } | false;
  decodeFrame(frame: { type: number; channel: number; payload: Buffer }): DecodedFrame;
};
const amqplibDefs = require(`${amqplibDir}defs.js`) as {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
};

/** Every frame in `bytes`, decoded by amqplib. */
function decodeAll(bytes: Buffer): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const frame = amqplibFrame.parseFrame(rest, 0);
    assert.ok(frame, `a whole frame at byte ${bytes.length - rest.length}`);
    frames.push(amqplibFrame.decodeFrame(frame));
    rest = frame.rest;
  }
  return frames;
}

/** A message as the RabbitMQ sink encodes it: ASCII and UTF-8, headers, every property it sets. */
function encodeMessage(out: ByteWriter, body: string, maxPayload: number, routingKey = 'pgcdc.public.orders', sizeAfterBody = false): void {
  writePublish(out, 1, 'cdc', routingKey, true);
  // The sink's two ways: the body measured first, or (one frame whatever it encodes to) its size filled in after it.
  const bytes = sizeAfterBody ? 0 : Buffer.byteLength(body);
  const header = beginContentHeader(out, 1, bytes, Property.contentType | Property.headers | Property.deliveryMode | Property.messageId | Property.timestamp | Property.type);
  writeShortString(out, 'application/json');
  const table = beginTable(out);
  writeStringField(out, 'pgcdc-key', '{"id":42}');
  writeStringField(out, 'message_id', 'ünï €');
  endTable(out, table);
  out.uint8(2);
  writeShortString(out, '0/16B3C8:1');
  out.uint64(1_767_225_600);
  writeShortString(out, 'OrderShipped');
  endFrame(out, header);
  if (sizeAfterBody) fillContentHeaderBodySize(out, header, writeSingleFrameBody(out, 1, body));
  else writeBody(out, 1, body, bytes, maxPayload);
}

test('AMQP publish: method, content header with every property the sink sets, and body, as amqplib decodes them', () => {
  for (const sizeAfterBody of [false, true]) {
    const out = new ByteWriter(16);
    const body = '{"after":{"id":42,"name":"Zoë 🙂"}}';
    encodeMessage(out, body, 131_064, 'pgcdc.public.orders', sizeAfterBody);
    const [publish, header, content, ...more] = decodeAll(out.finish());
    assert.equal(more.length, 0);
    assert.equal(publish!.id, Method.basicPublish);
    assert.equal(publish!.channel, 1);
    assert.deepEqual(publish!.fields, { ticket: 0, exchange: 'cdc', routingKey: 'pgcdc.public.orders', mandatory: true, immediate: false });
    assert.equal(header!.size, Buffer.byteLength(body));
    assert.deepEqual(header!.fields, {
      contentType: 'application/json', contentEncoding: undefined, headers: { 'pgcdc-key': '{"id":42}', message_id: 'ünï €' }, deliveryMode: 2, priority: undefined,
      correlationId: undefined, replyTo: undefined, expiration: undefined, messageId: '0/16B3C8:1', timestamp: 1_767_225_600, type: 'OrderShipped',
      userId: undefined, appId: undefined, clusterId: undefined,
    });
    assert.equal(content!.content!.toString('utf8'), body);
  }
});

test('AMQP body larger than the frame size: split into frames of at most the agreed payload, in order, multi-byte characters cut between frames intact', () => {
  const body = `{"text":"${'é€🙂x'.repeat(700)}"}`;
  for (const maxPayload of [4088, 1000, 7]) {
    const out = new ByteWriter(64);
    encodeMessage(out, body, maxPayload);
    const frames = decodeAll(out.finish()).slice(2);
    assert.ok(frames.length >= Math.ceil(Buffer.byteLength(body) / maxPayload), `${frames.length} body frames at ${maxPayload}`);
    for (const frame of frames) assert.ok(frame.content!.length <= maxPayload);
    assert.equal(Buffer.concat(frames.map((f) => f.content!)).toString('utf8'), body);
  }
});

test('AMQP short strings longer than 255 bytes are refused, not truncated', () => {
  assert.throws(() => writePublish(new ByteWriter(16), 1, 'cdc', 'é'.repeat(128), false), /at most 255 bytes/);
  const out = new ByteWriter(16);
  writePublish(out, 1, 'cdc', 'k'.repeat(255), false);
  assert.equal(decodeAll(out.finish())[0]!.fields!.routingKey, 'k'.repeat(255));
});

test('AMQP field tables: strings, booleans, integers and nested tables (the client properties), as amqplib decodes them', () => {
  const out = new ByteWriter(16);
  const frame = beginMethod(out, 0, Method.connectionStartOk);
  writeTable(out, { product: 'pgcdc', capabilities: { publisher_confirms: true, 'basic.nack': false }, answer: 42, empty: {} });
  writeShortString(out, 'PLAIN');
  out.uint32(0);
  writeShortString(out, 'en_US');
  endFrame(out, frame);
  const [decoded] = decodeAll(out.finish());
  assert.deepEqual(decoded!.fields!.clientProperties, { product: 'pgcdc', capabilities: { publisher_confirms: true, 'basic.nack': false }, answer: 42, empty: {} });
  assert.equal(decoded!.fields!.mechanism, 'PLAIN');
});

/** What a broker sends a publisher: start, acks and nacks (single and multiple), a returned message with its header and body, a close, a heartbeat. */
function brokerBytes(): { bytes: Buffer; returnedHeader: Buffer } {
  const returnedHeader = amqplibDefs.encodeProperties(60, 1, 17, {
    contentType: 'application/json', headers: { 'pgcdc-key': '7', nested: { a: 1 } }, deliveryMode: 2, priority: 3, correlationId: 'c', replyTo: 'r', expiration: '60000', messageId: '0/3000060:2', timestamp: 1, type: 't',
  });
  const bytes = Buffer.concat([
    amqplibDefs.encodeMethod(Method.connectionStart, 0, { versionMajor: 0, versionMinor: 9, serverProperties: { product: 'RabbitMQ', capabilities: { publisher_confirms: true } }, mechanisms: Buffer.from('AMQPLAIN PLAIN'), locales: Buffer.from('en_US') }),
    amqplibDefs.encodeMethod(Method.basicAck, 1, { deliveryTag: 3, multiple: true }),
    amqplibDefs.encodeMethod(Method.basicNack, 1, { deliveryTag: 2 ** 40 + 5, multiple: false, requeue: false }),
    amqplibDefs.encodeMethod(Method.basicReturn, 1, { replyCode: 312, replyText: 'NO_ROUTE', exchange: 'strict', routingKey: 'pgcdc.message.x' }),
    returnedHeader,
    Buffer.from([FRAME_BODY, 0, 1, 0, 0, 0, 17, ...Buffer.from('{"hello":"world"}'), 0xce]),
    amqplibDefs.encodeMethod(Method.channelClose, 1, { replyCode: 404, replyText: "NOT_FOUND - no exchange 'x' in vhost '/'", classId: 60, methodId: 40 }),
    Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]),
  ]);
  return { bytes, returnedHeader };
}

function describeFrames(frames: AmqpFrame[]): string[] {
  return frames.map((frame) => {
    if (frame.type === FRAME_METHOD) {
      const id = frame.payload.readUInt32BE(0);
      const args = new ArgumentReader(frame.payload, 4);
      if (id === Method.basicAck || id === Method.basicNack) return `${id === Method.basicAck ? 'ack' : 'nack'} ${args.longlong()} ${args.octet() & 1}`;
      if (id === Method.basicReturn) return `return ${args.short()} ${args.shortString()} ${args.shortString()} ${args.shortString()}`;
      if (id === Method.channelClose) return `close ${args.short()} ${args.shortString()}`;
      if (id === Method.connectionStart) {
        args.octet();
        args.octet();
        args.skipTable();
        return `start ${args.longString()} ${args.longString()}`;
      }
      return `method ${id}`;
    }
    if (frame.type === FRAME_HEADER) return `header ${messageIdOfHeader(frame.payload)} ${bodySizeOfHeader(frame.payload)}`;
    return `frame ${frame.type} ${frame.payload.toString()}`;
  });
}

test('AMQP frames read from the broker: whole, cut at every byte, and a byte at a time', () => {
  const { bytes } = brokerBytes();
  const expected = [
    'start AMQPLAIN PLAIN en_US',
    'ack 3 1',
    `nack ${2 ** 40 + 5} 0`,
    'return 312 NO_ROUTE strict pgcdc.message.x',
    'header 0/3000060:2 17',
    'frame 3 {"hello":"world"}',
    "close 404 NOT_FOUND - no exchange 'x' in vhost '/'",
    'frame 8 ',
  ];
  assert.deepEqual(describeFrames(new AmqpFrameReader().push(bytes)), expected);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const reader = new AmqpFrameReader();
    const first = describeFrames(reader.push(bytes.subarray(0, cut)));
    assert.deepEqual([...first, ...describeFrames(reader.push(bytes.subarray(cut)))], expected, `cut at ${cut}`);
  }
  const reader = new AmqpFrameReader();
  const oneByOne: string[] = [];
  for (const byte of bytes) oneByOne.push(...describeFrames(reader.push(Buffer.from([byte]))));
  assert.deepEqual(oneByOne, expected);
});

test('AMQP content header: the message id found past every property before it, absent when the message has none', () => {
  const { returnedHeader } = brokerBytes();
  const [frame] = new AmqpFrameReader().push(returnedHeader);
  assert.equal(messageIdOfHeader(frame!.payload), '0/3000060:2');
  const [bare] = new AmqpFrameReader().push(amqplibDefs.encodeProperties(60, 1, 0, { contentType: 'text/plain', type: 'x' }));
  assert.equal(messageIdOfHeader(bare!.payload), undefined);
  assert.equal(bodySizeOfHeader(bare!.payload), 0);
});

test('AMQP frames: bytes that are not AMQP (an HTTP answer, a frame without its end octet, one larger than agreed) are an error', () => {
  assert.throws(() => new AmqpFrameReader().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')), /not an AMQP 0-9-1 peer/);
  assert.throws(() => new AmqpFrameReader().push(Buffer.from([1, 0, 0, 0, 0, 0, 1, 9, 0])), /without its end octet/);
  const reader = new AmqpFrameReader();
  reader.maxFrame = 4096;
  assert.throws(() => reader.push(Buffer.from([3, 0, 1, 0, 0, 0x20, 0, 0])), /more than the 4096 agreed/);
  assert.throws(() => new ArgumentReader(Buffer.from([5, 0x41])).shortString(), /shorter than its arguments/);
});
