/**
 * Lines of a file or stdin. With `follow`, reading continues as the file grows
 * (like tail -f), until the signal aborts. Bytes are decoded as UTF-8 across
 * chunk boundaries; a final line without a newline is still a line.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { CdcError } from '../core/errors.ts';
import { StringDecoder } from 'node:string_decoder';

export interface LineSourceOptions {
  follow?: boolean;
  /** Milliseconds between checks for new data when following (default 200). */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Opens a file to read, or fails with one line saying why and what to do. */
async function openInput(path: string): Promise<FileHandle> {
  const unreadable = (why: string, cause?: unknown) =>
    new CdcError('PGCDC_BAD_INPUT', `cannot read ${path}: ${why}; give a file written by pg_recvlogical, or - for stdin`, { cause });
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw unreadable(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message, error);
  }
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw unreadable('it is a directory');
  }
  return handle;
}

export async function* readLines(path: string, options: LineSourceOptions = {}): AsyncGenerator<string> {
  const handle = path === '-' ? undefined : await openInput(path);
  const stream = handle === undefined ? process.stdin : undefined;
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const emit = function* (text: string): Generator<string> {
    rest += text;
    let newline = rest.indexOf('\n');
    while (newline >= 0) {
      yield rest.slice(0, newline).replace(/\r$/, '');
      rest = rest.slice(newline + 1);
      newline = rest.indexOf('\n');
    }
  };
  try {
    if (stream !== undefined) {
      for await (const chunk of stream) yield* emit(decoder.write(chunk as Buffer));
    } else {
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await handle!.read(buffer, 0, buffer.length, null);
        if (bytesRead > 0) {
          yield* emit(decoder.write(buffer.subarray(0, bytesRead)));
          continue;
        }
        if (!options.follow || options.signal?.aborted) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.pollMs ?? 200);
          options.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
        });
      }
    }
    yield* emit(decoder.end());
    if (rest !== '') yield rest;
  } finally {
    await handle?.close();
  }
}
