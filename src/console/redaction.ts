/**
 * No secret ever reaches the console: every text it shows (errors, sink names,
 * dead-letter reasons) passes through here. Two nets: the secret values of the
 * loaded config itself (passwords, tokens, SASL credentials, header values
 * under secret-sounding names, the password part of every URL), and the
 * patterns a secret takes in an error text we did not write (`user:pw@host`,
 * `password=...`).
 */
const SECRET_KEY = /pass|token|secret|sasl|auth|credential|apikey|api_key|private/i;

export class Redaction {
  private readonly secrets: string[];

  constructor(config: unknown, extra: readonly string[] = []) {
    const found = new Set<string>(extra.filter((s) => s.length >= 3));
    collect(config, false, found);
    // Longest first, so that a secret containing another is replaced whole.
    this.secrets = [...found].sort((a, b) => b.length - a.length);
  }

  text(value: string): string {
    let out = value;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.replaceAll(secret, '***');
    return out
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]*@/gi, '$1***@')
      .replace(/(password\s*=\s*)('(?:[^'\\]|\\.|'')*'|[^\s&]*)/gi, '$1***');
  }
}

function collect(value: unknown, secretKey: boolean, found: Set<string>): void {
  if (typeof value === 'string') {
    if (secretKey && value.length >= 3) found.add(value);
    const inUrl = /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:([^@/\s]+)@/i.exec(value);
    if (inUrl?.[1] && inUrl[1].length >= 3) {
      found.add(inUrl[1]);
      try { found.add(decodeURIComponent(inUrl[1])); } catch { /* not percent-encoded */ }
    }
    const keyword = /password\s*=\s*'?([^'\s&]+)/i.exec(value);
    if (keyword?.[1] && keyword[1].length >= 3) found.add(keyword[1]);
    return;
  }
  if (Array.isArray(value)) { for (const v of value) collect(v, secretKey, found); return; }
  if (typeof value === 'object' && value !== null) {
    // A value is secret by its own key (sasl.password, headers.Authorization), not its parent's: sasl.username is not.
    for (const [k, v] of Object.entries(value)) collect(v, SECRET_KEY.test(k), found);
  }
}
