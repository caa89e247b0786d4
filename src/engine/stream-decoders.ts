/**
 * What turns one XLogData payload into assembled output, per output plugin:
 * pgoutput (binary messages) or a text plugin (wal2json format-version 2 lines,
 * test_decoding lines). Both are synchronous and pure apart from spill files.
 */
import type { Lsn } from '../core/lsn.ts';
import { CdcError } from '../core/errors.ts';
import type { AssemblerOutput, TransactionAssembler } from '../assemble/transaction-assembler.ts';
import type { TextAssembler } from '../assemble/text-assembler.ts';
import { PgOutputDecoder } from '../decode/pgoutput/decode.ts';
import { parseTestDecoding } from '../decode/text-plugins/test-decoding.ts';
import { parseWal2JsonV2 } from '../decode/text-plugins/wal2json.ts';
import type { TextRecord } from '../decode/text-plugins/records.ts';

export type OutputPlugin = 'pgoutput' | 'wal2json' | 'test_decoding';

export interface StreamDecoder {
  /** Handles one payload `buffer[start, end)` whose XLogData started at `walStart`. */
  push(buffer: Buffer, start: number, end: number, walStart: Lsn): AssemblerOutput | undefined;
  readonly inTransaction: boolean;
  readonly memoryUsed: number;
  readonly memoryPeak: number;
  reset(): void;
}

export class PgOutputStreamDecoder implements StreamDecoder {
  private readonly decoder = new PgOutputDecoder();
  private readonly assembler: TransactionAssembler;
  constructor(assembler: TransactionAssembler) {
    this.assembler = assembler;
  }
  push(buffer: Buffer, start: number, end: number, walStart: Lsn): AssemblerOutput | undefined {
    // Row changes keep their bytes until handed on (assemble/row-change.ts says why).
    const change = this.decoder.peekRowChange(buffer, start, end);
    if (change !== undefined) {
      this.assembler.pushDeferredRowChange(change, buffer, start, end, this.decoder.inStream, walStart);
      return undefined;
    }
    return this.assembler.push(this.decoder.decode(buffer, start, end), walStart, end - start);
  }
  get inTransaction(): boolean { return this.assembler.inTransaction; }
  get memoryUsed(): number { return this.assembler.memoryUsed; }
  get memoryPeak(): number { return this.assembler.memoryPeak; }
  reset(): void { this.assembler.reset(); }
}

/**
 * wal2json (format-version 2) and test_decoding over the replication protocol:
 * each XLogData payload is one line. For test_decoding the COMMIT's XLogData
 * starts at the transaction's end LSN, which becomes its acknowledgement position.
 */
export class TextStreamDecoder implements StreamDecoder {
  private readonly plugin: 'wal2json' | 'test_decoding';
  private readonly assembler: TextAssembler;
  private payloads = 0;
  constructor(plugin: 'wal2json' | 'test_decoding', assembler: TextAssembler) {
    this.plugin = plugin;
    this.assembler = assembler;
  }
  push(buffer: Buffer, start: number, end: number, walStart: Lsn): AssemblerOutput | undefined {
    const text = buffer.toString('utf8', start, end);
    const number = ++this.payloads;
    let records: TextRecord[];
    try {
      if (this.plugin === 'wal2json') {
        records = [parseWal2JsonV2(text, number)];
      } else {
        const result = parseTestDecoding(text, number);
        if ('needMore' in result) throw new CdcError('PGCDC_PROTOCOL', 'incomplete test_decoding record in one message: report it with the server version');
        records = result.records;
      }
    } catch (error) {
      throw new CdcError('PGCDC_PROTOCOL', `unreadable ${this.plugin} output at ${walStart.toString(16)}: ${(error as Error).message}`, { cause: error });
    }
    // Several records share one message only for a TRUNCATE of several tables (inside a transaction).
    let output: AssemblerOutput | undefined;
    for (const record of records) output = this.assembler.push(record, walStart, end - start) ?? output;
    return output;
  }
  get inTransaction(): boolean { return this.assembler.inTransaction; }
  get memoryUsed(): number { return this.assembler.memoryUsed; }
  get memoryPeak(): number { return this.assembler.memoryPeak; }
  reset(): void { this.assembler.reset(); }
}

/** START_REPLICATION options per plugin: what carries types, keys, xids, LSNs and messages. */
export function pluginOptions(plugin: OutputPlugin, protocolVersion: number, publications: string[], streaming: boolean): Record<string, string> {
  switch (plugin) {
    case 'pgoutput': {
      const options: Record<string, string> = {
        proto_version: String(protocolVersion),
        publication_names: publications.map((p) => `"${p.replace(/"/g, '""')}"`).join(','),
        messages: 'true',
      };
      if (streaming) options.streaming = 'on';
      return options;
    }
    case 'wal2json':
      return {
        'format-version': '2', 'include-xids': '1', 'include-timestamp': '1', 'include-lsn': '1',
        'include-types': '1', 'include-pk': '1', 'include-transaction': '1',
      };
    case 'test_decoding':
      return { 'include-xids': '1', 'include-timestamp': '1', 'skip-empty-xacts': '1' };
  }
}
