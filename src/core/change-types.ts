/**
 * The two event-shape types the assembler already needs (it keeps messages and
 * operations before events exist): defined here so that assemble/ does not
 * import events/, which is built from it. events/change-event.ts re-exports them.
 */

/** c create, u update, d delete, r read (snapshot), t truncate, m logical decoding message. */
export type Operation = 'c' | 'u' | 'd' | 'r' | 't' | 'm';

/** A logical decoding message as events carry it. */
export interface MessageBody {
  prefix: string;
  /** UTF-8 text when the bytes are valid UTF-8, else base64. */
  content: string;
  encoding: 'utf8' | 'base64';
  transactional: boolean;
}

/**
 * A column as the source described it: enough for a consumer that needs the
 * type (the Kafka Connect schema form). From the Relation message for streamed
 * changes, from the query's field descriptions for snapshot rows.
 */
export interface ColumnType {
  name: string;
  typeOid: number;
  /** -1 when the type has none (numeric's precision and scale, timestamp's precision, varchar's length). */
  typeModifier: number;
}
