/** An ordinary SQL connection for catalog queries and slot administration. */
import type pg from 'pg';
import type { ColumnType } from '../core/change-types.ts';
import { connectClient } from './connect-client.ts';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';
import { sqlConfig, type ConnectionTarget } from './connection-config.ts';

export class SqlConnection {
  private readonly client: pg.Client;
  readonly context: ErrorContext;
  /**
   * The query before the next one. Slot health, heartbeats, catalog refreshes and
   * an incremental snapshot's watermarks share one connection and may ask at the
   * same moment: they take turns here, in call order, rather than in pg's own
   * queue, which pg deprecates (it printed a DeprecationWarning to users' logs)
   * and will remove in pg 9.
   */
  private previous: Promise<unknown> = Promise.resolve();

  private constructor(client: pg.Client, context: ErrorContext) {
    this.client = client;
    this.context = context;
  }

  /** `applicationName`: how the session shows in pg_stat_activity (default `pgcdc`). */
  static async open(target: ConnectionTarget, context: ErrorContext = {}, applicationName?: string): Promise<SqlConnection> {
    const config = applicationName === undefined ? sqlConfig : (t: ConnectionTarget) => ({ ...sqlConfig(t), application_name: applicationName });
    const connected = await connectClient(target, config, context);
    return new SqlConnection(connected.client, connected.context);
  }

  async query<Row = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      const result = await this.inTurn(() => this.client.query(sql, params));
      return result.rows as Row[];
    } catch (error) {
      throw classifyPostgresError(error, this.context);
    }
  }

  /** Runs `query` once every query asked for before it has ended, whatever their outcome. */
  private inTurn<T>(query: () => Promise<T>): Promise<T> {
    const result = this.previous.then(query, query);
    this.previous = result.catch(() => undefined);
    return result;
  }

  /**
   * Rows as arrays of the server's text output, untouched (no type parsing), with
   * each column's type OID: the same text pgoutput sends, so snapshot rows are
   * converted by the same converters as streamed ones.
   */
  async queryText(sql: string, params: unknown[] = []): Promise<{ columns: ColumnType[]; rows: Array<Array<string | null>> }> {
    try {
      const result = await this.inTurn(() => this.client.query({ text: sql, values: params, rowMode: 'array', types: { getTypeParser: () => (value: string) => value } } as pg.QueryConfig));
      // The rows are taken out of pg's result rather than shared with it: with
      // pg's result still holding them, every row a snapshot read outlived its use
      // long enough to be promoted to the old generation and was freed only by a
      // full collection (about 540 bytes a row, 270 MB over 500,000 rows, against
      // 18 MB taken out; docs/benchmarks.md).
      const rows = (result.rows as Array<Array<string | null>>).splice(0);
      return { columns: result.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID, typeModifier: f.dataTypeModifier })), rows };
    } catch (error) {
      throw classifyPostgresError(error, this.context);
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
