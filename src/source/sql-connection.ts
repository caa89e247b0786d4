/** An ordinary SQL connection for catalog queries and slot administration. */
import pg from 'pg';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';
import { sqlConfig, type ConnectionTarget } from './connection-config.ts';

export class SqlConnection {
  private readonly client: pg.Client;
  readonly context: ErrorContext;

  private constructor(client: pg.Client, context: ErrorContext) {
    this.client = client;
    this.context = context;
    client.on('error', () => undefined);
  }

  static async open(target: ConnectionTarget, context: ErrorContext = {}): Promise<SqlConnection> {
    const client = new pg.Client(sqlConfig(target));
    const fullContext = { ...context, target: target.display, user: client.user };
    try {
      await client.connect();
    } catch (error) {
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw classifyPostgresError(error, fullContext);
    }
    return new SqlConnection(client, fullContext);
  }

  async query<Row = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      const result = await this.client.query(sql, params);
      return result.rows as Row[];
    } catch (error) {
      throw classifyPostgresError(error, this.context);
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
