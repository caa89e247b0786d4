/**
 * PostgreSQL as a mirror: changes applied to tables of the same name in the
 * target database (which you create, with the same primary key), batched
 * (postgres-mirror.ts). Each batch is one transaction and is confirmed only
 * after COMMIT. The audit-table mode is `PostgresAuditSink`
 * (postgres-audit-sink.ts).
 *
 * A batch the database refuses for the data of an event is applied again event
 * by event behind savepoints: only the refused events become dead letters. A
 * missing table, column or privilege stops the pipeline (nothing dead-lettered).
 */
import type pg from 'pg';
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink, type SinkResult } from './sink.ts';
import { MirrorWriter, type MirrorRefusal } from './postgres-mirror.ts';
import { DEFAULT_TOAST_PLACEHOLDER } from '../assemble/tuple-to-row.ts';
import { isDataProblem, refusalReason, SinkConnection } from './postgres-sink-sql.ts';

export interface PostgresMirrorSinkOptions {
  url: string;
  /** The schema of the mirror tables (default: the source's). */
  targetSchema: string | undefined;
}

export class PostgresMirrorSink implements Sink {
  readonly name: string;
  private readonly connection: SinkConnection;
  private opened = false;
  private readonly mirror: MirrorWriter;

  constructor(options: PostgresMirrorSinkOptions) {
    this.mirror = new MirrorWriter(options.targetSchema, DEFAULT_TOAST_PLACEHOLDER);
    this.name = `postgres mirror ${new URL(options.url).host}`;
    this.connection = new SinkConnection(options.url);
  }

  async open(): Promise<void> {
    await this.connection.get();
    this.opened = true;
  }

  async write(records: OutboundRecord[]): Promise<SinkResult | void> {
    if (!this.opened) throw new SinkError('PostgreSQL sink is not open', { retriable: true });
    if (records.length === 0) return;
    const client = await this.connection.get();
    const events = records.map((r) => r.event);
    try {
      await client.query('BEGIN');
      const refused = await this.mirror.apply(client, events);
      await client.query('COMMIT');
      return { rejected: rejectedRecords(records, refused) };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (!isDataProblem(error)) throw this.connection.failed(error);
    }
    return { rejected: rejectedRecords(records, await this.isolate(client, records)) };
  }

  /**
   * The database refused the batch for the data of some event (a value too long,
   * a NOT NULL or CHECK violated): each event again, alone, behind a savepoint,
   * so only the refused ones become dead letters (with the database's reason)
   * and the others are applied, in order, in one transaction.
   */
  private async isolate(client: pg.Client, records: OutboundRecord[]): Promise<MirrorRefusal[]> {
    const refused: MirrorRefusal[] = [];
    try {
      await client.query('BEGIN');
      for (const record of records) {
        const event = record.event;
        await client.query('SAVEPOINT pgcdc_event');
        try {
          refused.push(...await this.mirror.applyOne(client, event));
          await client.query('RELEASE SAVEPOINT pgcdc_event');
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT pgcdc_event');
          if (!isDataProblem(error)) throw error;
          refused.push({ event, reason: refusalReason(error) });
        }
      }
      await client.query('COMMIT');
      return refused;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw this.connection.failed(error);
    }
  }

  async close(): Promise<void> {
    this.opened = false;
    await this.connection.close();
  }
}

function rejectedRecords(records: OutboundRecord[], refused: MirrorRefusal[]): SinkResult['rejected'] {
  if (refused.length === 0) return [];
  const byEvent = new Map(records.map((r) => [r.event, r]));
  return refused.map(({ event, reason }) => ({ record: byEvent.get(event)!, reason }));
}
