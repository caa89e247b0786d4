/** Runs transforms in order over the events of one batch, collecting dead letters. */
import type { ChangeEvent } from '../events/change-event.ts';
import type { DeadLetter, Transform, TransactionScope } from './transform.ts';

export interface NamedTransform {
  name: string;
  transform: Transform;
}

export interface TransformResult {
  events: ChangeEvent[];
  deadLetters: DeadLetter[];
}

export type TransformChain = (events: ChangeEvent[], scope: TransactionScope | undefined) => TransformResult;

export function composeTransforms(transforms: NamedTransform[]): TransformChain {
  return (input, scope) => {
    const deadLetters: DeadLetter[] = [];
    let events = input;
    for (const { name, transform } of transforms) {
      const context = { transaction: scope, deadLetter: (event: ChangeEvent, reason: string) => { deadLetters.push({ event, reason, stage: name }); } };
      const next: ChangeEvent[] = [];
      for (const event of events) {
        let out: ChangeEvent | ChangeEvent[] | null;
        try {
          out = transform(event, context);
        } catch (error) {
          deadLetters.push({ event, reason: `transform ${name} failed: ${(error as Error).message}`, stage: name });
          continue;
        }
        if (out === null) continue;
        if (Array.isArray(out)) next.push(...out);
        else next.push(out);
      }
      events = next;
    }
    return { events, deadLetters };
  };
}
