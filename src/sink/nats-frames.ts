/**
 * Pieces of the NATS client protocol's frames the sink writes: reply tokens in
 * hex, and what a subject or header block cannot carry.
 */
import type { OutboundRecord } from './outbound-record.ts';

export function hex8(token: number): string {
  return token.toString(16).padStart(8, '0');
}

/** The 8 hex digits at `at` (a reply token), or -1. */
export function parseHex(bytes: Buffer, at: number): number {
  if (bytes.length !== at + 8) return -1;
  let value = 0;
  for (let i = at; i < at + 8; i++) {
    const c = bytes[i]!;
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// Header names: printable ASCII without ':' or spaces; values: no CR or LF (they end a header line).
const HEADER_NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n]/;

/** Why a record's headers cannot be sent in a NATS header block, if they cannot. */
export function invalidHeaders(record: OutboundRecord): string | undefined {
  if (LINE_BREAK.test(record.id)) return `header Nats-Msg-Id contains a line break, which NATS headers cannot carry`;
  for (const name in record.headers) {
    if (!HEADER_NAME.test(name)) return `header name ${JSON.stringify(name)} is not a valid NATS header name`;
    if (LINE_BREAK.test(record.headers[name]!)) return `header ${name} contains a line break, which NATS headers cannot carry`;
  }
  if (record.key !== null && LINE_BREAK.test(record.key)) return `header Pgcdc-Key contains a line break, which NATS headers cannot carry`;
  return undefined;
}

const SUBJECT_SPACE = /[\s]/;

export function invalidSubject(subject: string): string | undefined {
  if (subject.length === 0 || SUBJECT_SPACE.test(subject)) return `subject ${JSON.stringify(subject)} is not a valid NATS subject (empty or containing whitespace)`;
  return undefined;
}
