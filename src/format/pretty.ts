/**
 * One line per change that a person reads at a glance:
 *
 *   14:03:07.512 tx 771  INSERT  public.users [id=1] name='bob' email='bob@example.com'
 *   14:03:07.530 tx 772  UPDATE  public.users [id=1] name: 'bob' → 'robert'
 *   14:03:07.541 tx 773  DELETE  public.users [id=1]
 *   14:03:07.560 tx 774  MESSAGE outbox (transactional) {"id":"298c…"}
 *
 * Colours only on a TTY (or when forced). Times are commit times in UTC.
 */
import { styleText } from 'node:util';
import { isRawJson, stringifyExact, type JsonObject, type JsonValue } from '../core/json.ts';
import type { ChangeEvent } from '../events/change-event.ts';
import { eventMeta } from '../events/event-builder.ts';

type Style = Parameters<typeof styleText>[0];

const OPERATION_LABEL: Record<string, { text: string; style: Style }> = {
  c: { text: 'INSERT  ', style: 'green' },
  u: { text: 'UPDATE  ', style: 'yellow' },
  d: { text: 'DELETE  ', style: 'red' },
  t: { text: 'TRUNCATE', style: 'magenta' },
  r: { text: 'READ    ', style: 'blue' },
  m: { text: 'MESSAGE ', style: 'cyan' },
};

export interface PrettyOptions {
  color: boolean;
  /** Longest value printed before it is cut with an ellipsis (default 80). */
  maxValueLength?: number;
}

export function formatValue(value: JsonValue | undefined, max = 80): string {
  let text: string;
  if (value === null || value === undefined) text = 'NULL';
  else if (typeof value === 'string') text = `'${value.replace(/'/g, "''")}'`;
  else if (isRawJson(value)) text = value.rawJSON;
  else if (typeof value === 'object') text = stringifyExact(value);
  else text = String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function sameValue(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

function columns(row: JsonObject, max: number, skip?: JsonObject | null): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(row)) {
    if (skip && name in skip) continue;
    parts.push(`${name}=${formatValue(value, max)}`);
  }
  return parts.join(' ');
}

function formatKey(key: JsonObject | null | undefined, max: number): string {
  if (!key) return '';
  return `[${Object.entries(key).map(([k, v]) => `${k}=${formatValue(v, max)}`).join(',')}]`;
}

/** HH:MM:SS.mmm in UTC; dashes when the commit time is unknown (test_decoding without timestamps). */
export function formatTime(ms: number | null): string {
  return ms === null ? '--:--:--.---' : new Date(ms).toISOString().slice(11, 23);
}

export function formatPretty(event: ChangeEvent, options: PrettyOptions): string {
  const max = options.maxValueLength ?? 80;
  const paint = (style: Style, text: string) => (options.color ? styleText(style, text, { validateStream: false }) : text);
  const label = OPERATION_LABEL[event.op] ?? { text: event.op.padEnd(8), style: 'white' as Style };
  const tx = event.source.txId === null ? 'tx -  ' : `tx ${event.source.txId}`;
  const head = `${paint('dim', formatTime(event.source.ts_ms))} ${paint('dim', tx.padEnd(10))} ${paint(label.style, label.text)}`;
  if (event.op === 'm') {
    const message = event.message!;
    const kind = message.transactional ? 'transactional' : 'non-transactional';
    const content = message.encoding === 'base64' ? `base64:${message.content}` : message.content;
    return `${head} ${paint('bold', message.prefix)} ${paint('dim', `(${kind})`)} ${content.length > max * 4 ? `${content.slice(0, max * 4 - 1)}…` : content}`;
  }
  const table = paint('bold', `${event.source.schema}.${event.source.table}`);
  const key = eventMeta(event)?.key ?? null;
  const keyText = key ? ` ${formatKey(key, max)}` : '';
  const audit = event.auditData === undefined ? '' : ` ${paint('magenta', `audit=${JSON.stringify(event.auditData)}`)}`;
  return formatChange(event, head, table, keyText, key, max, paint) + audit;
}

function formatChange(
  event: ChangeEvent, head: string, table: string, keyText: string, key: JsonObject | null, max: number,
  paint: (style: Style, text: string) => string,
): string {
  switch (event.op) {
    case 'c':
    case 'r':
      return `${head} ${table}${keyText} ${columns(event.after ?? {}, max, key)}`.trimEnd();
    case 'u': {
      const after = event.after ?? {};
      const before = event.before ?? null;
      const parts: string[] = [];
      for (const [name, value] of Object.entries(after)) {
        if (before && name in before) {
          if (!sameValue(before[name], value)) parts.push(`${name}: ${formatValue(before[name], max)} ${paint('dim', '→')} ${formatValue(value, max)}`);
        } else if (!key || !(name in key)) {
          parts.push(`${name}=${formatValue(value, max)}`);
        }
      }
      return `${head} ${table}${keyText} ${parts.join(' ')}`.trimEnd();
    }
    case 'd': {
      const before = event.before ?? {};
      const rest = columns(before, max, key);
      return `${head} ${table}${keyText}${rest ? ` ${paint('dim', rest)}` : ''}`;
    }
    default:
      return `${head} ${table}`;
  }
}
