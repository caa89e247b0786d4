/**
 * The layout rules of docs/architecture.md, read from the imports of src/, so
 * they stay true: data flows one way (source → decode → assemble → events →
 * transform → engine → sink), leaves do not reach back into the middle, and no
 * two folders import each other, however indirectly.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src', import.meta.url));

interface Edge { from: string; to: string; fromFolder: string; toFolder: string }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The folder under src/ a file belongs to ('.' for src/index.ts). */
const folderOf = (file: string) => {
  const [first, ...rest] = relative(src, file).split('/');
  return rest.length === 0 ? '.' : first!;
};

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

function importEdges(): Edge[] {
  return sourceFiles(src).flatMap((file) => [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((match) => {
    const target = normalize(join(dirname(file), match[1]!));
    return { from: relative(src, file), to: relative(src, target), fromFolder: folderOf(file), toFolder: folderOf(target) };
  }));
}

const edges = importEdges();
const crossing = edges.filter((e) => e.fromFolder !== e.toFolder);
const show = (list: Edge[]) => list.map((e) => `${e.from} → ${e.to}`).join('\n');

describe('architecture rules (docs/architecture.md)', () => {
  test('the rules read real imports', () => {
    assert.ok(edges.length > 100, `found ${edges.length} imports`);
    assert.ok(crossing.some((e) => e.fromFolder === 'engine' && e.toFolder === 'decode'), 'engine → decode is seen');
  });

  test('sinks import nothing from source/', () => {
    const wrong = crossing.filter((e) => e.fromFolder === 'sink' && e.toFolder === 'source');
    assert.equal(wrong.length, 0, show(wrong));
  });

  test('decoders import nothing outside decode/ and core/ (pure: no network, no engine)', () => {
    const wrong = crossing.filter((e) => e.fromFolder === 'decode' && e.toFolder !== 'core');
    assert.equal(wrong.length, 0, show(wrong));
  });

  test('sdk/ imports nothing from the rest of pgcdc (applications embed it alone)', () => {
    const wrong = crossing.filter((e) => e.fromFolder === 'sdk');
    assert.equal(wrong.length, 0, show(wrong));
  });

  test('core/ imports nothing from the other folders', () => {
    const wrong = crossing.filter((e) => e.fromFolder === 'core');
    assert.equal(wrong.length, 0, show(wrong));
  });

  test('every error pgcdc throws is a CdcError with a stable code (sdk/ has its own EmitError, with a code, to import nothing)', () => {
    const wrong = sourceFiles(src).filter((file) => folderOf(file) !== 'sdk').flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return [
        ...[...text.matchAll(/throw new (Error|RangeError|TypeError|SyntaxError)\(/g)].map((m) => `${relative(src, file)}: throw new ${m[1]}`),
        ...[...text.matchAll(/class (\w+) extends (Error|RangeError|TypeError)\b/g)].filter((m) => m[1] !== 'CdcError').map((m) => `${relative(src, file)}: class ${m[1]} extends ${m[2]}`),
      ];
    });
    assert.deepEqual(wrong, []);
  });

  test('no source file over 400 lines (one concept per file)', () => {
    const long = sourceFiles(src).map((file) => [relative(src, file), readFileSync(file, 'utf8').split('\n').length] as const).filter(([, lines]) => lines > 400);
    assert.deepEqual(long, []);
  });

  test('no import cycles between folders', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of crossing) {
      if (e.fromFolder === '.') continue; // src/index.ts re-exports everything
      if (!graph.has(e.fromFolder)) graph.set(e.fromFolder, new Set());
      graph.get(e.fromFolder)!.add(e.toFolder);
    }
    // Every folder reachable from `start`, with the path that reached it.
    const cycles: string[] = [];
    for (const start of graph.keys()) {
      const seen = new Map<string, string[]>([[start, [start]]]);
      const queue = [start];
      while (queue.length > 0) {
        const at = queue.shift()!;
        for (const next of graph.get(at) ?? []) {
          if (next === start) cycles.push([...seen.get(at)!, start].join(' → '));
          if (!seen.has(next)) { seen.set(next, [...seen.get(at)!, next]); queue.push(next); }
        }
      }
    }
    const witnesses = cycles.map((cycle) => {
      const folders = cycle.split(' → ');
      return `${cycle}\n    ${folders.slice(1).map((to, i) => crossing.find((e) => e.fromFolder === folders[i] && e.toFolder === to)).map((e) => `${e!.from} → ${e!.to}`).join('\n    ')}`;
    });
    assert.equal(cycles.length, 0, `folders that import each other:\n${[...new Set(witnesses)].join('\n')}`);
  });
});
