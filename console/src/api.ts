/** Requests to pgcdc's console API; actions carry the CSRF header from /api/overview. */
import { useEffect, useState } from 'preact/hooks';

let csrf = '';

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(await errorText(response));
  const body = (await response.json()) as T;
  if (path === '/api/overview') csrf = (body as { csrf: string }).csrf;
  return body;
}

export async function postJson<T>(path: string, body: unknown): Promise<{ status: number; body: T }> {
  if (csrf === '') await getJson('/api/overview');
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-pgcdc-csrf': csrf },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await errorText(response));
  return { status: response.status, body: (await response.json()) as T };
}

async function errorText(response: Response): Promise<string> {
  const text = await response.text();
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    return text.trim() || `HTTP ${response.status}`;
  }
}

/** Polls `path` every `everyMs`; `refresh()` polls now. */
export function usePoll<T>(path: string, everyMs: number): { data: T | undefined; error: string | undefined; refresh: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const load = () => getJson<T>(path).then((d) => { if (live) { setData(d); setError(undefined); } }, (e: Error) => { if (live) setError(e.message); });
    load();
    const timer = setInterval(load, everyMs);
    return () => { live = false; clearInterval(timer); };
  }, [path, everyMs, tick]);
  return { data, error, refresh: () => setTick((t) => t + 1) };
}
