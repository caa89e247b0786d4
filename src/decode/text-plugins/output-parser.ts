/**
 * Reads what pg_recvlogical wrote, line by line: detects the plugin and format
 * (wal2json format-version 1, pretty-printed or not; format-version 2;
 * test_decoding), joins records that span lines, and reports errors with the
 * line number. Pure: lines in, records out.
 */
import { parseTestDecoding } from './test-decoding.ts';
import { TextParseError, type TextRecord } from './records.ts';
import { parseWal2JsonV1, parseWal2JsonV2 } from './wal2json.ts';

export type TextPlugin = 'wal2json' | 'test_decoding';
export type TextFormat = 'wal2json-v1' | 'wal2json-v2' | 'test_decoding';

export const FORMAT_NAMES: Record<TextFormat, string> = {
  'wal2json-v1': 'wal2json format-version 1',
  'wal2json-v2': 'wal2json format-version 2',
  test_decoding: 'test_decoding',
};

const TEST_DECODING_START = /^(BEGIN|COMMIT|table |message: )/;

export class PluginOutputParser {
  private format: TextFormat | undefined;
  private readonly plugin: TextPlugin | 'auto';
  private lineNumber = 0;
  /** A record spanning lines: its text so far and first line. */
  private pending: { text: string; line: number } | undefined;
  /** JSON scanner state for wal2json format 1 documents. */
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(plugin: TextPlugin | 'auto' = 'auto') {
    this.plugin = plugin;
  }

  get detected(): TextFormat | undefined {
    return this.format;
  }

  /** The number of the last line read. */
  get line(): number {
    return this.lineNumber;
  }

  /** Feeds one line (without its newline); returns the records it completes. */
  push(text: string): TextRecord[] {
    this.lineNumber++;
    const line = this.lineNumber;
    if (this.pending === undefined && text.trim() === '') return [];
    if (this.format === undefined) this.format = this.detect(text, line);
    switch (this.format) {
      case 'wal2json-v2':
        return [parseWal2JsonV2(text, line)];
      case 'wal2json-v1':
        return this.pushJsonDocumentLine(text, line);
      case 'test_decoding': {
        const joined = this.pending ? `${this.pending.text}\n${text}` : text;
        const first = this.pending?.line ?? line;
        const result = parseTestDecoding(joined, first);
        if ('needMore' in result) {
          this.pending = { text: joined, line: first };
          return [];
        }
        this.pending = undefined;
        return result.records;
      }
    }
  }

  /** End of input: a record still open means the file was cut off. */
  end(): void {
    if (this.pending !== undefined) {
      const pending = this.pending;
      this.recover();
      throw new TextParseError(`input ends inside a record that started here (truncated file?)`, pending.line);
    }
  }

  /** Forgets a half-read record, so reading can go on after an error (--skip-bad). */
  recover(): void {
    this.pending = undefined;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  private detect(text: string, line: number): TextFormat {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      if (this.plugin === 'test_decoding') throw new TextParseError('this looks like wal2json output, not test_decoding', line);
      return /^\{\s*"action"\s*:/.test(trimmed) ? 'wal2json-v2' : 'wal2json-v1';
    }
    if (TEST_DECODING_START.test(trimmed)) {
      if (this.plugin === 'wal2json') throw new TextParseError('this looks like test_decoding output, not wal2json', line);
      return 'test_decoding';
    }
    throw new TextParseError(`cannot tell the output plugin from ${JSON.stringify(trimmed.slice(0, 40))}: expected wal2json JSON or test_decoding lines (or give --plugin)`, line);
  }

  private pushJsonDocumentLine(text: string, line: number): TextRecord[] {
    if (this.pending === undefined) {
      if (!text.trimStart().startsWith('{')) throw new TextParseError(`expected the start of a wal2json document, got ${JSON.stringify(text.trim().slice(0, 40))}`, line);
      this.pending = { text, line };
    } else {
      this.pending.text += `\n${text}`;
    }
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true; // backslash
        else if (c === 0x22) this.inString = false; // quote
      } else if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++; // { [
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          if (text.slice(i + 1).trim() !== '') throw new TextParseError('unexpected text after the end of a wal2json document', line);
          const document = this.pending.text;
          const first = this.pending.line;
          this.recover();
          return parseWal2JsonV1(document, first);
        }
      }
    }
    return [];
  }
}
