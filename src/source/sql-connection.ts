/** An ordinary SQL connection for catalog queries and slot administration. */
import type pg from 'pg';
import { connectClient } from './connect-client.ts';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';
import { sqlConfig, type ConnectionTarget } from './connection-config.ts';

export class SqlConnection {
  private readonly client: pg.Client;
  readonly context: ErrorContext;

  private constructor(client: pg.Client, context: ErrorContext) {
    this.client = client;
    this.context = context;
  }

  static async open(target: ConnectionTarget, context: ErrorContext = {}): Promise<SqlConnection> {
    const connected = await connectClient(target, sqlConfig(target), context);
    return new SqlConnection(connected.client, connected.context);
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
