/**
 * A walsender connection in database mode. node-postgres does the parts a
 * library does well (TLS, SCRAM/md5 authentication, simple queries such as
 * IDENTIFY_SYSTEM and CREATE_REPLICATION_SLOT). For START_REPLICATION pgcdc takes
 * the socket over and frames the CopyBoth stream itself (decode/backend-framer.ts):
 * that gives bulk processing of each socket read, pausing the socket for
 * backpressure, and buffers it owns.
 */
import type pg from 'pg';
import type { Socket } from 'node:net';
import { CdcError } from '../core/errors.ts';
import { formatLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import { quoteIdent, quoteLiteral } from '../core/sql-text.ts';
import { classifyPostgresError, type ErrorContext } from './postgres-errors.ts';
import { replicationConfig, type ConnectionTarget } from './connection-config.ts';
import { CopyBothSession, type CopyBothHandler } from './copy-both-session.ts';
import { connectClient } from './connect-client.ts';

export interface SystemIdentity {
  systemId: string;
  timeline: number;
  walPosition: Lsn;
  database: string;
}

export class ReplicationConnection {
  private readonly client: pg.Client;
  private readonly context: ErrorContext;
  private session: CopyBothSession | undefined;
  private closed = false;

  private constructor(client: pg.Client, context: ErrorContext) {
    this.client = client;
    this.context = context;
  }

  static async open(target: ConnectionTarget, context: ErrorContext = {}): Promise<ReplicationConnection> {
    const connected = await connectClient(target, replicationConfig, context);
    return new ReplicationConnection(connected.client, connected.context);
  }

  /** Runs a replication command or simple SQL (no parameters: the walsender speaks only the simple protocol). */
  async query(sql: string): Promise<Array<Record<string, unknown>>> {
    try {
      const result = await this.client.query(sql);
      return result.rows as Array<Record<string, unknown>>;
    } catch (error) {
      throw classifyPostgresError(error, this.context);
    }
  }

  async identifySystem(): Promise<SystemIdentity> {
    const [row] = await this.query('IDENTIFY_SYSTEM');
    if (row === undefined) throw new CdcError('PGCDC_PROTOCOL', 'IDENTIFY_SYSTEM returned no row');
    return {
      systemId: String(row.systemid),
      timeline: Number(row.timeline),
      walPosition: parseLsn(String(row.xlogpos)),
      database: String(row.dbname ?? ''),
    };
  }

  /**
   * Creates a logical slot on this connection. A temporary slot lives as long as
   * this connection. No snapshot is exported: streaming starts at the slot's
   * consistent point.
   */
  /**
   * Creates the slot. With `exportSnapshot`, the server also exports the snapshot
   * in which the slot became consistent: a transaction that imports it (SET
   * TRANSACTION SNAPSHOT) sees exactly the data before the slot's first change.
   * The export lives only until this connection's next command, so import it
   * before starting replication.
   */
  async createSlot(name: string, plugin: string, temporary: boolean, exportSnapshot = false, failover = false): Promise<{ consistentPoint: Lsn; snapshotName: string | undefined }> {
    // PostgreSQL 17+ takes options in parentheses, FAILOVER among them: the slot is
    // then synchronized to standbys (sync_replication_slots) and survives a failover.
    const how = failover
      ? `(SNAPSHOT '${exportSnapshot ? 'export' : 'nothing'}', FAILOVER true)`
      : exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT';
    const [row] = await this.query(`CREATE_REPLICATION_SLOT ${quoteIdent(name)}${temporary ? ' TEMPORARY' : ''} LOGICAL ${quoteIdent(plugin)} ${how}`);
    const snapshotName = row?.snapshot_name;
    return { consistentPoint: parseLsn(String(row?.consistent_point)), snapshotName: typeof snapshotName === 'string' ? snapshotName : undefined };
  }

  /**
   * Starts streaming. From here on the socket belongs to the returned session.
   * @param options plugin options, e.g. { proto_version: '4', publication_names: '"pub"' }
   */
  startReplication(slot: string, start: Lsn, options: Record<string, string>, handler: CopyBothHandler): CopyBothSession {
    const pluginOptions = Object.entries(options).map(([k, v]) => `${quoteIdent(k)} ${quoteLiteral(v)}`).join(', ');
    const sql = `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL ${formatLsn(start)}${pluginOptions ? ` (${pluginOptions})` : ''}`;
    const socket = (this.client as unknown as { connection: { stream: Socket } }).connection.stream;
    // pg's parser must not see the CopyBoth stream: the client is idle (all replies
    // up to ReadyForQuery consumed), so its buffer is empty and detaching is safe.
    socket.removeAllListeners('data');
    this.session = new CopyBothSession(socket, handler, this.context);
    this.session.start(sql);
    return this.session;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.session !== undefined) {
      await this.session.end();
      return;
    }
    await this.client.end().catch(() => undefined);
  }
}

