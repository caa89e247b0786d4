/**
 * A committed transaction as chunks of transformed events, in order: the
 * engine's step that builds events (events/) and applies the transform chain
 * (transform/) to them. The last
 * chunk is marked, so a caller can attach the transaction's acknowledgement
 * position to it and to nothing before (docs/lsn-and-acks.md, rule 3).
 */
import type { CommittedTransaction } from '../assemble/transaction-assembler.ts';
import type { TransformChain } from '../transform/transform-chain.ts';
import type { DeadLetter, TransactionScope } from '../transform/transform.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { TransactionEventBuilder, type SourceIdentity } from '../events/event-builder.ts';
import { materialize } from '../assemble/row-change.ts';

/**
 * Events per chunk of a large transaction, unless the stream's options say
 * otherwise. 250, not 1,000: a chunk's events are built, written and dropped
 * together, and at 1,000 they outlived a young-generation cycle: a
 * 2,000,000-row transaction promoted 600 MB and took 52 full collections
 * against 90 MB and 6 at 250, for 0.75x the CPU (docs/benchmarks.md). A
 * transaction of up to 250 rows is one chunk either way.
 */
export const DEFAULT_CHUNK_EVENTS = 250;

export interface EventChunk {
  events: ChangeEvent[];
  deadLetters: DeadLetter[];
  /** Items of the transaction this chunk consumed (before transforms). */
  items: number;
  last: boolean;
}

export async function* transactionEventChunks(
  transaction: CommittedTransaction,
  identity: SourceIdentity,
  batchSize: number,
  transforms: TransformChain,
  /** Sees every chunk's events as built, before the transforms (the incremental snapshot's window). */
  observe?: (xid: number | undefined, events: readonly ChangeEvent[]) => void,
): AsyncGenerator<EventChunk> {
  const builder = new TransactionEventBuilder(identity, transaction);
  // Transforms see the transaction's messages before its first event (audit context).
  const scope: TransactionScope = { xid: transaction.xid, commitLsn: transaction.commitLsn, messages: transaction.buffer.messages.map((m) => m.message!) };
  for await (const chunk of transaction.buffer.chunks(batchSize)) {
    const items = chunk.items;
    const now = Date.now();
    const events = new Array<ChangeEvent>(items.length);
    for (let i = 0; i < items.length; i++) events[i] = builder.build(materialize(items[i]!), now);
    observe?.(transaction.xid, events);
    const result = transforms(events, scope);
    // Handed on at once: the buffer marks its last chunk, so these events do not
    // wait for the next chunk's to be built (events that wait that long outlive
    // young-generation collections and are promoted; docs/benchmarks.md).
    yield { events: result.events, deadLetters: result.deadLetters, items: items.length, last: chunk.last };
  }
}
