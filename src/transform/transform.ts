/**
 * Transforms sit between event building and delivery. Each is a small pure unit:
 * an event in, zero or more events out, plus dead letters for what it rejects.
 * They run in a fixed order (engine/build-transforms.ts), composed into one
 * TransformChain (transform-chain.ts): outbox router → audit enricher →
 * filters → user functions.
 */
import type { ChangeEvent, MessageBody } from '../events/change-event.ts';

/** What a transform may know about the transaction of the event it handles. */
export interface TransactionScope {
  xid: number | undefined;
  commitLsn: bigint | undefined;
  /** Every transactional logical message of the transaction, in order (known before its first event is handled). */
  messages: MessageBody[];
}

/** An event a transform rejected for good, with the reason (goes to the dead-letter destination). */
export interface DeadLetter {
  event: ChangeEvent;
  reason: string;
  /** The transform that rejected it. */
  stage: string;
}

export interface TransformContext {
  /** Undefined for non-transactional messages. */
  transaction: TransactionScope | undefined;
  deadLetter(event: ChangeEvent, reason: string): void;
}

/** Returns the event (possibly changed), several events, or null to drop it. */
export type Transform = (event: ChangeEvent, context: TransformContext) => ChangeEvent | ChangeEvent[] | null;

export type { Route } from '../events/change-event.ts';
