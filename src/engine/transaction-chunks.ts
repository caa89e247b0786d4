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
  let previous: EventChunk | undefined;
  for await (const items of transaction.buffer.chunks(batchSize)) {
    const now = Date.now();
    const events = new Array<ChangeEvent>(items.length);
    for (let i = 0; i < items.length; i++) events[i] = builder.build(items[i]!, now);
    observe?.(transaction.xid, events);
    const result = transforms(events, scope);
    if (previous !== undefined) yield previous;
    previous = { events: result.events, deadLetters: result.deadLetters, items: items.length, last: false };
  }
  yield previous === undefined ? { events: [], deadLetters: [], items: 0, last: true } : { ...previous, last: true };
}
