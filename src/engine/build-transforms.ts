/** The order transforms run in (docs/transforms.md). */
import { auditEnricher } from '../transform/audit-enricher.ts';
import type { NamedTransform } from '../transform/transform-chain.ts';
import { filterTransform } from '../transform/event-filter-transform.ts';
import { outboxRouter } from '../transform/outbox-router.ts';
import type { ChangeStreamOptions } from './change-stream-types.ts';

/** The transforms in their fixed order: outbox router → audit enricher → filters → user functions. */
export function buildTransforms(options: ChangeStreamOptions): NamedTransform[] {
  const transforms: NamedTransform[] = [];
  if (options.outbox !== false) transforms.push({ name: 'outbox', transform: outboxRouter(options.outbox ?? {}) });
  if (options.audit !== false) transforms.push({ name: 'audit', transform: auditEnricher(options.audit ?? {}) });
  const filter = filterTransform(options.filter ?? {});
  if (filter) transforms.push({ name: 'filter', transform: filter });
  transforms.push(...(options.transforms ?? []));
  return transforms;
}

