/**
 * What the value converter knows about types beyond the built-in ones: enums,
 * domains, composites, ranges, arrays of anything. Filled from the catalog by
 * source/type-catalog.ts (the only part that does I/O); the converter reads it.
 */
export type TypeKind = 'base' | 'enum' | 'domain' | 'composite' | 'range' | 'multirange' | 'array' | 'pseudo';

export interface TypeInfo {
  oid: number;
  namespace: string;
  name: string;
  kind: TypeKind;
  /** Arrays: the element type. */
  elementOid?: number;
  /** Arrays: the element delimiter (',' for all but box). */
  delimiter?: string;
  /** Domains: the underlying type. */
  baseOid?: number;
  /** Composites: attribute names and types, in order. */
  attributes?: Array<{ name: string; typeOid: number }>;
}

export class TypeRegistry {
  private readonly types = new Map<number, TypeInfo>();
  /** Bumped on every change so compiled converters know to rebuild. */
  version = 0;

  add(info: TypeInfo): void {
    this.types.set(info.oid, info);
    this.version++;
  }

  get(oid: number): TypeInfo | undefined {
    return this.types.get(oid);
  }

  has(oid: number): boolean {
    return this.types.has(oid);
  }

  get size(): number {
    return this.types.size;
  }
}
