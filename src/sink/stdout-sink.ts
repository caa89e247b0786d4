/**
 * JSON lines on stdout; confirmed once written to the file descriptor.
 * Encoded when a batch is prepared, as the file sink's lines are: records held
 * as strings until the group's write outlived the young generation and were
 * copied out of it (an incremental snapshot into stdout promoted every event's
 * record); bytes are freed as soon as they are written.
 */
import type { OutboundRecord } from './outbound-record.ts';
import { encodeJsonLines } from './json-lines.ts';
import { SinkError, releaseWritten, type EncodedBatch, type EncodingSink } from './sink.ts';
import { FdWriter } from './stdout-writer.ts';

export class StdoutSink implements EncodingSink {
  readonly name = 'stdout';
  private readonly writer = new FdWriter(1);
  async open(): Promise<void> {}

  async write(records: OutboundRecord[]): Promise<void> {
    await this.writeEncoded([this.encode(records)]);
  }

  encode(records: OutboundRecord[]): EncodedBatch {
    return encodeJsonLines(records);
  }

  async writeEncoded(batches: EncodedBatch[]): Promise<void> {
    for (const { bytes } of batches) {
      if (bytes.length > 0 && !this.writer.writeBytes(bytes)) throw new SinkError('stdout was closed by its reader', { retriable: false });
    }
    releaseWritten(batches);
  }

  async close(): Promise<void> {}
}
