/**
 * The package as a user gets it: `npm pack`, installed from the tarball into an
 * empty folder (no TypeScript sources, no dev dependencies, no build step), then
 * `pgcdc --version` and `pgcdc demo` run from that folder's node_modules/.bin.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PGCDC_VERSION } from '../../src/core/version.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pgcdc-package-'));
// mkdtemp makes the folder 700; the embedded PostgreSQL runs as the OS user postgres when we are root.
chmodSync(work, 0o755);
// The Node that runs the tests (22+) first on PATH, as a user's would be; npm runs on it too.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, NO_COLOR: '1' };

after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack, installed into an empty folder: pgcdc --version and pgcdc demo run without sources or dev dependencies', async () => {
  // dist/ was built by npm test; --ignore-scripts skips the prepare build that would redo it.
  const { stdout: packed } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], { cwd: root, env });
  const { filename, files } = (JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!;
  const paths = files.map((f) => f.path);
  assert.ok(paths.includes('dist/cli/main.js') && paths.includes('bin/pgcdc.js'), 'the compiled CLI and its bin are packed');
  // The console is built ahead and shipped: dist/console/console-server.js finds it at ../../console/dist.
  assert.ok(['console/dist/index.html', 'console/dist/app.js', 'console/dist/app.css'].every((p) => paths.includes(p)), 'the built console is packed');
  assert.ok(!paths.some((p) => p.startsWith('console/src')), 'not its sources');
  assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('test/')), `no sources or tests packed: ${paths.filter((p) => p.startsWith('src/') || p.startsWith('test/')).slice(0, 3).join(', ')}`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{"name":"app","private":true}\n');
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, filename)], { cwd: app, env, timeout: 300_000 });
  assert.ok(!existsSync(join(app, 'node_modules', 'typescript')), 'no dev dependency was installed');
  assert.ok(!readdirSync(join(app, 'node_modules', 'pgcdc')).includes('src'));
  assert.ok(existsSync(join(app, 'node_modules', 'pgcdc', 'dist', 'console', '..', '..', 'console', 'dist', 'app.js')), 'the console assets where the server looks for them');

  const pgcdc = join(app, 'node_modules', '.bin', 'pgcdc');
  const version = await run(pgcdc, ['--version'], { cwd: app, env });
  assert.equal(version.stdout, `${PGCDC_VERSION}\n`);

  if (process.getuid?.() === 0) {
    // Under a folder the postgres OS user cannot enter, the demo says so in one line (not a stack trace).
    chmodSync(work, 0o700);
    const refused = await run(pgcdc, ['demo'], { cwd: app, env }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    chmodSync(work, 0o755);
    assert.equal(refused?.code, 1);
    assert.match(refused!.stderr, /^pgcdc: error PGCDC_DEMO: the embedded PostgreSQL runs as the OS user postgres, which cannot enter .*pgcdc-package-\w+ \(mode 700\); install pgcdc outside it, or run chmod o\+x/m);
    assert.doesNotMatch(refused!.stderr, /\n\s+at /, 'no stack trace');
  }
  const demo = await run(pgcdc, ['demo', '--format', 'json'], { cwd: app, env, timeout: 120_000 });
  const events = demo.stdout.trim().split('\n').map((l) => JSON.parse(l) as { op: string; message?: { prefix: string; transactional: boolean } });
  assert.ok(events.some((e) => e.op === 'c'), 'inserts streamed');
  assert.ok(events.some((e) => e.op === 'm' && e.message?.prefix === 'outbox'), 'the outbox message streamed');
  assert.ok(events.some((e) => e.op === 'm' && e.message?.prefix === 'log' && !e.message.transactional), 'the log message of the rolled-back transaction streamed');
});
