/**
 * AMQP 0-9-1 frames, the part a publisher with confirms needs (the
 * specification's "General Frame Format", "Method Frames", "Content Framing"
 * and "Field Tables"). Pure: no sockets (amqp-publisher.ts sends and receives).
 *
 * Written by hand for the RabbitMQ sink's hot path (decision 0015): through
 * amqplib each message was three frames encoded into Buffers of their own and a
 * socket `write` each, an options object and a header table built per message,
 * and a callback per confirm; `pgcdc run` → RabbitMQ spent 3.9-4.4× the CPU per
 * change of `tail` (docs/benchmarks.md). Here a run of messages is encoded
 * straight into one Buffer and written once.
 */
import type { ByteWriter } from '../core/byte-writer.ts';
import { CdcError } from '../core/errors.ts';

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
const FRAME_END = 0xce;
/** type, channel, size before the payload; the end octet after it. */
export const FRAME_OVERHEAD = 8;

/** What a client sends first: the protocol it speaks. */
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/** class and method ids, as (class << 16) | method, the pairs this publisher sends or expects. */
export const Method = {
  connectionStart: (10 << 16) | 10,
  connectionStartOk: (10 << 16) | 11,
  connectionTune: (10 << 16) | 30,
  connectionTuneOk: (10 << 16) | 31,
  connectionOpen: (10 << 16) | 40,
  connectionOpenOk: (10 << 16) | 41,
  connectionClose: (10 << 16) | 50,
  connectionCloseOk: (10 << 16) | 51,
  connectionBlocked: (10 << 16) | 60,
  connectionUnblocked: (10 << 16) | 61,
  channelOpen: (20 << 16) | 10,
  channelOpenOk: (20 << 16) | 11,
  channelClose: (20 << 16) | 40,
  channelCloseOk: (20 << 16) | 41,
  exchangeDeclare: (40 << 16) | 10,
  exchangeDeclareOk: (40 << 16) | 11,
  basicPublish: (60 << 16) | 40,
  basicReturn: (60 << 16) | 50,
  basicAck: (60 << 16) | 80,
  basicNack: (60 << 16) | 120,
  confirmSelect: (85 << 16) | 10,
  confirmSelectOk: (85 << 16) | 11,
} as const;

/** Basic's content properties: each present property sets its flag bit, and they follow in this (the bits') order. */
export const Property = {
  contentType: 1 << 15,
  contentEncoding: 1 << 14,
  headers: 1 << 13,
  deliveryMode: 1 << 12,
  priority: 1 << 11,
  correlationId: 1 << 10,
  replyTo: 1 << 9,
  expiration: 1 << 8,
  messageId: 1 << 7,
  timestamp: 1 << 6,
  type: 1 << 5,
} as const;

export function methodName(id: number): string {
  for (const [name, value] of Object.entries(Method)) if (value === id) return name;
  return `${id >>> 16}.${id & 0xffff}`;
}

// ---- writing ----------------------------------------------------------------

/** Starts a frame; returns the offset of its size, for `endFrame`. */
export function beginFrame(out: ByteWriter, type: number, channel: number): number {
  out.uint8(type);
  out.uint16(channel);
  return out.reserveUint32();
}

export function endFrame(out: ByteWriter, sizeOffset: number): void {
  out.fillUint32(sizeOffset, out.length - sizeOffset - 4);
  out.uint8(FRAME_END);
}

/** Starts a method frame; its arguments follow, then `endFrame`. */
export function beginMethod(out: ByteWriter, channel: number, method: number): number {
  const size = beginFrame(out, FRAME_METHOD, channel);
  out.uint32(method);
  return size;
}

export function writeShortString(out: ByteWriter, text: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > 255) throw new CdcError('PGCDC_SINK', `AMQP short strings hold at most 255 bytes; '${text.slice(0, 40)}…' has ${bytes}`);
  out.uint8(bytes);
  out.utf8(text, bytes);
}

export function writeLongString(out: ByteWriter, text: string): void {
  const bytes = Buffer.byteLength(text);
  out.uint32(bytes);
  out.utf8(text, bytes);
}

/** The values a field table written by pgcdc holds: strings, booleans, nested tables. */
export type FieldValue = string | boolean | number | FieldTable;
export interface FieldTable { [name: string]: FieldValue }

export function writeTable(out: ByteWriter, table: FieldTable): void {
  const size = beginTable(out);
  for (const name in table) {
    const value = table[name]!;
    if (typeof value === 'string') {
      writeStringField(out, name, value);
      continue;
    }
    writeShortString(out, name);
    if (typeof value === 'boolean') {
      out.uint8(0x74); // 't'
      out.uint8(value ? 1 : 0);
    } else if (typeof value === 'number') {
      out.uint8(0x49); // 'I', signed 32-bit
      out.uint32(value >>> 0);
    } else {
      out.uint8(0x46); // 'F'
      writeTable(out, value);
    }
  }
  endTable(out, size);
}

/** Starts a field table written entry by entry (`writeStringField`); returns the offset of its size, for `endTable`. */
export function beginTable(out: ByteWriter): number {
  return out.reserveUint32();
}

export function writeStringField(out: ByteWriter, name: string, value: string): void {
  writeShortString(out, name);
  out.uint8(0x53); // 'S', a long string
  writeLongString(out, value);
}

export function endTable(out: ByteWriter, sizeOffset: number): void {
  out.fillUint32(sizeOffset, out.length - sizeOffset - 4);
}

/** A message's method frame (basic.publish); its content header and body follow. */
export function writePublish(out: ByteWriter, channel: number, exchange: string, routingKey: string, mandatory: boolean): void {
  const size = beginMethod(out, channel, Method.basicPublish);
  out.uint16(0); // reserved (ticket)
  writeShortString(out, exchange);
  writeShortString(out, routingKey);
  out.uint8(mandatory ? 1 : 0); // bits: mandatory, immediate
  endFrame(out, size);
}

/** Starts a message's content header; its properties (those in `flags`, in `Property` order) follow, then `endFrame`. */
export function beginContentHeader(out: ByteWriter, channel: number, bodyBytes: number, flags: number): number {
  const size = beginFrame(out, FRAME_HEADER, channel);
  out.uint16(60); // class basic
  out.uint16(0); // weight
  out.uint64(bodyBytes);
  out.uint16(flags);
  return size;
}

/** Sets the body size of a content header begun with `beginContentHeader` (at `sizeOffset`, what it returned) once the body is written. */
export function fillContentHeaderBodySize(out: ByteWriter, sizeOffset: number, bodyBytes: number): void {
  // After the frame size (4), class (2) and weight (2): the 64-bit body size.
  out.fillUint32(sizeOffset + 8, Math.floor(bodyBytes / 0x1_0000_0000));
  out.fillUint32(sizeOffset + 12, bodyBytes >>> 0);
}

/**
 * A body that fits one frame however it encodes (`text.length` × 3 bytes at
 * most `maxPayload`), written without measuring it first; returns its bytes,
 * for the content header (`fillContentHeaderBodySize`).
 */
export function writeSingleFrameBody(out: ByteWriter, channel: number, text: string): number {
  out.uint8(FRAME_BODY);
  out.uint16(channel);
  const size = out.reserveUint32();
  const bytes = out.utf8(text);
  out.fillUint32(size, bytes);
  out.uint8(FRAME_END);
  return bytes;
}

/**
 * A message's body (`bytes`: its UTF-8 length, known from the header), in
 * frames of at most `maxPayload` bytes. One frame unless the message is larger
 * than the connection's frame size (128 KiB with RabbitMQ).
 */
export function writeBody(out: ByteWriter, channel: number, text: string, bytes: number, maxPayload: number): void {
  if (bytes <= maxPayload) {
    out.uint8(FRAME_BODY);
    out.uint16(channel);
    out.uint32(bytes);
    out.utf8(text, bytes);
    out.uint8(FRAME_END);
    return;
  }
  const whole = Buffer.from(text, 'utf8');
  for (let at = 0; at < whole.length; at += maxPayload) {
    const part = whole.subarray(at, Math.min(at + maxPayload, whole.length));
    out.uint8(FRAME_BODY);
    out.uint16(channel);
    out.uint32(part.length);
    out.bytes(part);
    out.uint8(FRAME_END);
  }
}

// ---- reading ----------------------------------------------------------------

export interface AmqpFrame {
  type: number;
  channel: number;
  /** A view of the received bytes, valid until the next push. */
  payload: Buffer;
}

/**
 * Frames from the bytes received, in order. Bytes may arrive cut anywhere: a
 * frame that is not whole yet waits for the next chunk. A frame larger than
 * `maxFrame` or without its end octet means the stream is not AMQP (or is out
 * of step): an error, after which the connection must close.
 */
export class AmqpFrameReader {
  private pending: Buffer | undefined;
  maxFrame = 131_072;

  push(chunk: Buffer): AmqpFrame[] {
    let data = chunk;
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    const frames: AmqpFrame[] = [];
    let at = 0;
    while (data.length - at >= FRAME_OVERHEAD) {
      const size = data.readUInt32BE(at + 3);
      if (size + FRAME_OVERHEAD > this.maxFrame) throw new CdcError('PGCDC_PROTOCOL', `an AMQP frame of ${size} bytes, more than the ${this.maxFrame} agreed: not an AMQP 0-9-1 peer`);
      if (data.length - at < size + FRAME_OVERHEAD) break;
      if (data[at + 7 + size] !== FRAME_END) throw new CdcError('PGCDC_PROTOCOL', 'an AMQP frame without its end octet: not an AMQP 0-9-1 peer');
      frames.push({ type: data[at]!, channel: data.readUInt16BE(at + 1), payload: data.subarray(at + 7, at + 7 + size) });
      at += size + FRAME_OVERHEAD;
    }
    // A copy, not a view: the frames returned above are views of `data`, and a view would keep the whole chunk alive.
    if (at < data.length) this.pending = Buffer.from(data.subarray(at));
    return frames;
  }
}

/** Reads a method's arguments in order (or any payload: content headers too). */
export class ArgumentReader {
  private at: number;
  private readonly data: Buffer;

  constructor(data: Buffer, at = 0) {
    this.data = data;
    this.at = at;
  }

  private need(bytes: number): void {
    if (this.at + bytes > this.data.length) throw new CdcError('PGCDC_PROTOCOL', 'an AMQP method shorter than its arguments');
  }

  octet(): number {
    this.need(1);
    return this.data[this.at++]!;
  }

  short(): number {
    this.need(2);
    const value = this.data.readUInt16BE(this.at);
    this.at += 2;
    return value;
  }

  long(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }

  /** A 64-bit unsigned integer (delivery tags, body sizes), exact up to 2^53. */
  longlong(): number {
    const high = this.long();
    return high * 0x1_0000_0000 + this.long();
  }

  shortString(): string {
    return this.text(this.octet());
  }

  longString(): string {
    return this.text(this.long());
  }

  private text(length: number): string {
    this.need(length);
    const text = this.data.toString('utf8', this.at, this.at + length);
    this.at += length;
    return text;
  }

  /** Skips a field table (the broker's properties, a returned message's headers): pgcdc reads none of it. */
  skipTable(): void {
    const length = this.long();
    this.need(length);
    this.at += length;
  }
}

/** The message id of a returned message, from its content header's properties; undefined when it has none. */
export function messageIdOfHeader(payload: Buffer): string | undefined {
  const reader = new ArgumentReader(payload, 12); // class, weight, body size
  const flags = reader.short();
  if ((flags & Property.messageId) === 0) return undefined;
  if (flags & Property.contentType) reader.shortString();
  if (flags & Property.contentEncoding) reader.shortString();
  if (flags & Property.headers) reader.skipTable();
  if (flags & Property.deliveryMode) reader.octet();
  if (flags & Property.priority) reader.octet();
  if (flags & Property.correlationId) reader.shortString();
  if (flags & Property.replyTo) reader.shortString();
  if (flags & Property.expiration) reader.shortString();
  return reader.shortString();
}

/** The body size a content header announces. */
export function bodySizeOfHeader(payload: Buffer): number {
  return new ArgumentReader(payload, 4).longlong();
}
