/** Opens a node-postgres client, turning connection failures into one-line CdcErrors. */
import pg, { type ClientConfig } from 'pg';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';
import type { ConnectionTarget } from './connection-config.ts';

export interface ConnectedClient {
  client: pg.Client;
  /** The caller's context plus where we connected and as whom (for error messages). */
  context: ErrorContext;
}

export async function connectClient(target: ConnectionTarget, config: ClientConfig, context: ErrorContext): Promise<ConnectedClient> {
  const client = new pg.Client(config);
  // Errors after connect surface through queries or the replication session;
  // an unhandled 'error' event must not crash the process.
  client.on('error', () => undefined);
  const fullContext = { ...context, target: target.display, user: client.user };
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw classifyPostgresError(error, fullContext);
  }
  return { client, context: fullContext };
}
