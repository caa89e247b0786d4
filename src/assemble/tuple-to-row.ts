/** pgoutput tuples → rows of JSON values, using a relation's compiled converters. */
import type { JsonObject } from '../core/json.ts';
import type { Tuple } from '../decode/pgoutput/messages.ts';
import type { CachedRelation } from './relation-cache.ts';

/** Debezium's marker for unchanged TOASTed values (`unavailable.value.placeholder`). */
export const DEFAULT_TOAST_PLACEHOLDER = '__debezium_unavailable_value';

export function tupleToRow(relation: CachedRelation, tuple: Tuple, toastPlaceholder: string): JsonObject {
  const columns = relation.message.columns;
  const converters = relation.converters;
  const row: JsonObject = {};
  const count = Math.min(columns.length, tuple.length);
  for (let i = 0; i < count; i++) {
    const value = tuple[i]!;
    const name = columns[i]!.name;
    switch (value.kind) {
      case 'text': row[name] = converters[i]!(value.text); break;
      case 'null': row[name] = null; break;
      case 'unchanged-toast': row[name] = toastPlaceholder; break;
      case 'binary': row[name] = value.bytes.toString('base64'); break;
    }
  }
  return row;
}

/**
 * The key of a row: the replica identity columns. For a 'K' old tuple only the
 * key columns are non-null; for REPLICA IDENTITY FULL ('O') every column is
 * sent and the key is still the flagged columns. Null when the table has none.
 */
export function keyOf(relation: CachedRelation, row: JsonObject | null): JsonObject | null {
  if (row === null || relation.keyIndexes.length === 0) return null;
  const columns = relation.message.columns;
  const key: JsonObject = {};
  for (const i of relation.keyIndexes) {
    const name = columns[i]!.name;
    key[name] = row[name] ?? null;
  }
  return key;
}

/** For key-only old tuples ('K'), keep just the key columns (the others arrive as null). */
export function keyColumnsOnly(relation: CachedRelation, row: JsonObject): JsonObject {
  return keyOf(relation, row) ?? row;
}
