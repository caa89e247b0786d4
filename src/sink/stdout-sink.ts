/** JSON lines on stdout; confirmed once written to the file descriptor. */
import type { OutboundRecord } from './outbound-record.ts';
import { SinkError, type Sink } from './sink.ts';
import { FdWriter } from './stdout-writer.ts';

export class StdoutSink implements Sink {
  readonly name = 'stdout';
  private readonly writer = new FdWriter(1);
  async open(): Promise<void> {}
  async write(records: OutboundRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (!this.writer.write(`${records.map((r) => r.value).join('\n')}\n`)) {
      throw new SinkError('stdout was closed by its reader', { retriable: false });
    }
  }
  async close(): Promise<void> {}
}
