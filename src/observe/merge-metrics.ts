/**
 * One Prometheus exposition from several registries whose metrics share names
 * (one registry per pipeline, told apart by the `slot` label). prom-client's
 * Registry.merge refuses same-named metrics, so `/metrics` of a process with two
 * pipelines answered 500; and a plain concatenation would repeat each family's
 * HELP and TYPE, which Prometheus rejects. Here each family is written once,
 * with the samples of every registry under it, in first-seen order.
 */
import type { Registry } from 'prom-client';

export async function mergedMetrics(registries: readonly Registry[]): Promise<string> {
  return mergeExpositions(await Promise.all(registries.map((r) => r.metrics())));
}

export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, string[]>();
  for (const text of texts) {
    let family: string[] | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const head = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (head !== null) {
        const name = head[2]!;
        family = families.get(name);
        if (family === undefined) families.set(name, family = []);
        // The first registry's HELP and TYPE lines stand for the family.
        if (!family.some((l) => l.startsWith(`# ${head[1]} ${name} `) || l === `# ${head[1]} ${name}`)) family.push(line);
        continue;
      }
      if (family === undefined) families.set('', family = []); // samples before any HELP (not written by prom-client)
      family.push(line);
    }
  }
  const lines: string[] = [];
  for (const family of families.values()) {
    // HELP and TYPE first, then the samples, whatever order the registries gave.
    lines.push(...family.filter((l) => l.startsWith('# ')), ...family.filter((l) => !l.startsWith('# ')));
  }
  return `${lines.join('\n')}\n`;
}
