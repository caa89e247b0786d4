/** Opens a node-postgres client, turning connection failures into one-line CdcErrors. */
import pg, { type ClientConfig } from 'pg';
import { CdcError } from '../core/errors.ts';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';
import type { ConnectionTarget } from './connection-config.ts';

export interface ConnectedClient {
  client: pg.Client;
  /** The caller's context plus where we connected and as whom (for error messages). */
  context: ErrorContext;
}

/**
 * Connects to the target; for libpq's multi-host form, to the first host that
 * answers and fits target_session_attrs, as libpq does. `configFor` builds the
 * client's configuration for one host (replication or ordinary SQL).
 */
export async function connectClient(target: ConnectionTarget, configFor: (target: ConnectionTarget) => ClientConfig, context: ErrorContext): Promise<ConnectedClient> {
  if (target.hosts === undefined) return connectOne(target, configFor(target), context);
  const refused: string[] = [];
  for (const host of target.hosts) {
    let connected: ConnectedClient;
    try {
      connected = await connectOne(host, configFor(host), context);
    } catch (error) {
      refused.push(`${host.display}: ${(error as Error).message}`);
      continue;
    }
    const why = await unfit(connected.client, target.sessionAttrs ?? 'any');
    if (why === undefined) return connected;
    refused.push(`${host.display}: ${why}`);
    await connected.client.end().catch(() => undefined);
  }
  // Retriable: during a failover no host may be the primary for a few seconds.
  throw new CdcError('PGCDC_UNREACHABLE', `no host of ${target.display} is ${target.sessionAttrs === 'any' || target.sessionAttrs === undefined ? 'reachable' : `a ${target.sessionAttrs} server`}: ${refused.join('; ')}; check the hosts and target_session_attrs`, { retriable: true });
}

/** Why a connected server does not fit target_session_attrs; undefined when it does. */
async function unfit(client: pg.Client, attrs: NonNullable<ConnectionTarget['sessionAttrs']>): Promise<string | undefined> {
  if (attrs === 'any') return undefined;
  // Simple protocol (no parameters): a walsender in database mode answers it too.
  const result = await client.query<{ recovery: boolean; read_only: string }>(`SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only`);
  const row = result.rows[0];
  if (row === undefined) return 'no answer to pg_is_in_recovery()';
  if (row.recovery) return 'a standby (in recovery)';
  if (attrs === 'read-write' && row.read_only === 'on') return 'read-only (default_transaction_read_only)';
  return undefined;
}

async function connectOne(target: ConnectionTarget, config: ClientConfig, context: ErrorContext): Promise<ConnectedClient> {
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
