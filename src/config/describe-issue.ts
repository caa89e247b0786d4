/**
 * Config problems in pgcdc's words. The schema's own messages ("expected a
 * postgresql:// URL") are kept; zod's defaults ("Invalid input: expected string,
 * received undefined") are rewritten to say what is missing or wrong and what
 * would be right, naming the value only when it cannot be a secret (a type, a
 * number, a choice).
 */
import type { core } from 'zod';

const ZOD_DEFAULT = /^(Invalid|Too small|Too big|Unrecognized key)/;

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', number: 'a number', boolean: 'true or false', object: 'a mapping (key: value)', array: 'a list', int: 'a whole number',
};

/** What was found, without printing a string (it may be a secret). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const choices = (values: readonly unknown[]) => values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');

/** One problem, without its path: `input` is the whole config as given, to say what was found. */
export function describeIssue(issue: core.$ZodIssue, input: unknown): string {
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  const found = valueAt(input, issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return found === undefined ? `is required (${expected})` : `expected ${expected}, found ${kindOf(found)}`;
    }
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${choices(issue.values)}` : `expected one of ${choices(issue.values)}${typeof found === 'string' ? `, found "${found}"` : ''}`;
    case 'unrecognized_keys':
      return `unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (check the spelling against docs/run.md)`;
    case 'too_small':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `must not be empty`
        : `must be ${issue.inclusive ? 'at least' : 'above'} ${String(issue.minimum)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'below'} ${String(issue.maximum)}`;
    case 'invalid_union': {
      // false or a mapping, say: name the forms the union accepts.
      const forms = issue.errors.map((branch) => {
        const first = branch[0];
        if (first?.code === 'invalid_value') return choices(first.values);
        if (first?.code === 'invalid_type') return TYPE_NAMES[first.expected] ?? first.expected;
        return undefined;
      }).filter((f): f is string => f !== undefined);
      return forms.length > 0 ? `expected ${forms.join(' or ')}, found ${kindOf(found)}` : 'is not valid here (see docs/run.md)';
    }
    default:
      return issue.message;
  }
}
