/** The table/operation/prefix filter as a transform (drops what does not match). */
import { buildEventFilter, type FilterOptions } from './event-filter.ts';
import type { Transform } from './transform.ts';

export function filterTransform(options: FilterOptions): Transform | undefined {
  const predicate = buildEventFilter(options);
  return predicate === undefined ? undefined : (event) => (predicate(event) ? event : null);
}
