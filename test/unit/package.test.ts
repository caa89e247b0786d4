import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PGCDC_VERSION } from '../../src/core/version.ts';

const root = new URL('../../', import.meta.url);

test('source.version in events matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string };
  assert.equal(PGCDC_VERSION, pkg.version);
});

test('the built package runs: bin/pgcdc.js prints the version once and the library entry loads', async () => {
  const out = execFileSync(process.execPath, [new URL('bin/pgcdc.js', root).pathname, '--version'], { encoding: 'utf8' });
  assert.equal(out, `${PGCDC_VERSION}\n`);
  const library = (await import(new URL('dist/index.js', root).href)) as Record<string, unknown>;
  assert.equal(typeof library.ChangeStream, 'function');
  assert.equal(library.PGCDC_VERSION, PGCDC_VERSION);
});
