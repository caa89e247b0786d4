/**
 * The lines of a file, read in large chunks (no trailing '\n' kept; a last
 * line without one is included).
 *
 * Not node:readline: its async iterator pauses the interface while lines wait
 * to be consumed and resumes it on the next read, and when the file ended in
 * between (the interface closed) the resume throws ERR_USE_AFTER_CLOSE. A
 * consumer that awaits between lines (the spill file's reader, whose chunks
 * wait for the sink) hit it at the end of a 1,000,000-row transaction.
 */
import { createReadStream } from 'node:fs';

export async function* readLines(path: string, chunkBytes = 1 << 20): AsyncGenerator<string> {
  const input = createReadStream(path, { highWaterMark: chunkBytes, encoding: 'utf8' });
  try {
    let rest = '';
    for await (const chunk of input as AsyncIterable<string>) {
      const text = rest + chunk;
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        yield text.slice(start, end);
        start = end + 1;
      }
      rest = text.slice(start);
    }
    if (rest !== '') yield rest;
  } finally {
    input.destroy();
  }
}
