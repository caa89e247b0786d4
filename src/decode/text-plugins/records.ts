/**
 * What wal2json and test_decoding output parses into: plugin-neutral records
 * carrying Postgres text values, assembled into the same transactions and events
 * as pgoutput (assemble/text-assembler.ts). Pure: no I/O.
 */
import type { Lsn } from '../../core/lsn.ts';
import { CdcError } from '../../core/errors.ts';

/** Marker for an unchanged TOASTed value the plugin did not send. */
export const UNCHANGED_TOAST = Symbol('unchanged-toast');

export interface TextColumn {
  name: string;
  /** The type as format_type() prints it, when the plugin gives it. */
  typeName: string | undefined;
  /** The value in Postgres text form; null for NULL. */
  value: string | null | typeof UNCHANGED_TOAST;
}

export type TextRecord =
  | { kind: 'begin'; xid: number | undefined; commitTime: string | undefined; endLsn: Lsn | undefined }
  | { kind: 'commit'; xid: number | undefined; commitTime: string | undefined; commitLsn: Lsn | undefined; endLsn: Lsn | undefined }
  | {
      kind: 'change';
      op: 'c' | 'u' | 'd' | 't';
      schema: string;
      table: string;
      /** New row (insert, update). */
      columns: TextColumn[] | undefined;
      /** Old key or old row (update, delete). */
      oldColumns: TextColumn[] | undefined;
      /** Primary key column names, when the plugin gives them. */
      keyNames: string[] | undefined;
      lsn: Lsn | undefined;
      xid: number | undefined;
    }
  | { kind: 'message'; transactional: boolean; prefix: string; content: string; lsn: Lsn | undefined; xid: number | undefined };

/** A parse failure: which line, and why (PGCDC_BAD_INPUT: the input, not pgcdc, is wrong). */
export class TextParseError extends CdcError {
  readonly line: number;
  constructor(message: string, line: number) {
    super('PGCDC_BAD_INPUT', `line ${line}: ${message}`);
    this.name = 'TextParseError';
    this.line = line;
  }
}
