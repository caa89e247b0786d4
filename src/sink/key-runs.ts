/**
 * Order per key when a broker refuses part of a write (docs/run.md, "Order per
 * key under partial refusals").
 *
 * NATS and RabbitMQ take a write's records pipelined: all are sent, then the
 * confirmations come back. If the broker refuses one record (an error PubAck, a
 * nack: a full stream or queue that frees up a moment later) and stores a later
 * record of the same row, the retry stores the refused, earlier version after
 * the later one, and the row's versions are out of order for every consumer.
 * Neither broker offers a way to make the later record fail with the earlier
 * one (JetStream's expected-last-subject-sequence works per subject, and
 * subjects are per table), so these sinks hold back instead: a write is cut into
 * runs in which no key appears twice, and a run goes out only once every record
 * before it is confirmed. A refusal then stops the write before any later
 * version of a refused row is sent.
 *
 * Only writes in which a row repeats pay a round trip per repeat; a backlog of
 * distinct rows is one run per write. Keys are compared as 32-bit hashes of the
 * topic and the key (FNV-1a): numbers, not strings, so batches waiting to be
 * written hold no extra heap objects; a collision costs a needless wait, never
 * order. Records without a key (messages, keyless tables) are not held back.
 */

/** Splits records, in order, into runs without a repeated key. */
export class KeyRuns {
  private current = new Set<number>();
  /** The keys of the first run (the same set as `lastKeys` while there is one run). */
  private first: Set<number> | undefined;
  private lastTopic = '';
  private lastTopicHash = FNV_OFFSET;

  /** Adds the next record's key; true when it repeats one of the current run, so the record starts a new run. */
  add(topic: string, key: string | null): boolean {
    if (key === null) return false;
    if (topic !== this.lastTopic) {
      this.lastTopic = topic;
      this.lastTopicHash = fnv1a(topic, FNV_OFFSET);
    }
    const hash = fnv1a(key, this.lastTopicHash);
    if (!this.current.has(hash)) {
      this.current.add(hash);
      return false;
    }
    this.first ??= this.current;
    this.current = new Set([hash]);
    return true;
  }

  /** The keys of the first run: what must not overlap the unconfirmed end of the write before. */
  get firstKeys(): ReadonlySet<number> {
    return this.first ?? this.current;
  }

  /** The keys of the last run: unconfirmed while the write's last confirmations are awaited. */
  get lastKeys(): ReadonlySet<number> {
    return this.current;
  }
}

/** Whether two key sets share a key (walks the smaller one). */
export function keysOverlap(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  if (a.size > b.size) return keysOverlap(b, a);
  for (const hash of a) if (b.has(hash)) return true;
  return false;
}

const FNV_OFFSET = 0x811c9dc5;

function fnv1a(text: string, seed: number): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // The topic's hash seeds the key's: a separator keeps ("ab","c") apart from ("a","bc").
  return Math.imul(hash ^ 0xff, 0x01000193) >>> 0;
}
