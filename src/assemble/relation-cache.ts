/**
 * Relations (tables) as last described by a Relation message. pgoutput sends a
 * Relation message before the first change to a table in a session and again
 * after its definition changes, so the cache is only ever updated from the
 * stream, never from a catalog query (the stream is the truth at that LSN).
 */
import { ProtocolError } from '../core/errors.ts';
import type { RelationMessage } from '../decode/pgoutput/messages.ts';
import type { TextConverter, ValueConverter } from '../decode/values/convert.ts';

export interface CachedRelation {
  message: RelationMessage;
  /** Converter per column, compiled once per Relation message (or type registry change). */
  converters: TextConverter[];
  keyIndexes: number[];
  registryVersion: number;
}

export class RelationCache {
  private readonly relations = new Map<number, CachedRelation>();
  private readonly converter: ValueConverter;
  private readonly registryVersion: () => number;
  private readonly primaryKeyOf: (relationOid: number) => string[] | undefined;

  /**
   * @param primaryKeyOf primary key columns from the catalog, used for tables
   *   with REPLICA IDENTITY FULL (where pgoutput flags every column as key)
   */
  constructor(converter: ValueConverter, registryVersion: () => number, primaryKeyOf: (relationOid: number) => string[] | undefined = () => undefined) {
    this.converter = converter;
    this.registryVersion = registryVersion;
    this.primaryKeyOf = primaryKeyOf;
  }

  set(message: RelationMessage): void {
    this.relations.set(message.relationOid, this.compile(message));
  }

  get(relationOid: number): CachedRelation {
    const cached = this.relations.get(relationOid);
    if (cached === undefined) {
      throw new ProtocolError(`change for relation ${relationOid} arrived before its Relation message`, 0);
    }
    if (cached.registryVersion !== this.registryVersion()) {
      const fresh = this.compile(cached.message);
      this.relations.set(relationOid, fresh);
      return fresh;
    }
    return cached;
  }

  has(relationOid: number): boolean {
    return this.relations.has(relationOid);
  }

  private compile(message: RelationMessage): CachedRelation {
    const keyIndexes: number[] = [];
    const primaryKey = message.replicaIdentity === 'f' ? this.primaryKeyOf(message.relationOid) : undefined;
    if (primaryKey !== undefined) {
      for (const name of primaryKey) {
        const index = message.columns.findIndex((c) => c.name === name);
        if (index >= 0) keyIndexes.push(index);
      }
    } else {
      message.columns.forEach((c, i) => { if (c.isKey) keyIndexes.push(i); });
    }
    return {
      message,
      converters: message.columns.map((c) => this.converter.converterFor(c.typeOid)),
      keyIndexes,
      registryVersion: this.registryVersion(),
    };
  }
}
