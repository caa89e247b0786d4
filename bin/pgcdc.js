#!/usr/bin/env -S node --max-semi-space-size=8
// Entry point of the package: runs the compiled CLI (dist/, built by `npm install`
// in a clone through the prepare script, shipped built in the published package).
// --max-semi-space-size=8: pgcdc allocates many short-lived objects per change;
// Node's default young generation lets the heap balloon to about twice the peak
// memory for the same throughput (docs/benchmarks.md).
// Plain JavaScript that any Node runs, so that an old Node gets one line, not a
// syntax error from the code it cannot run.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`pgcdc: error PGCDC_NODE_VERSION: pgcdc needs Node.js 22 or newer, this is ${process.version}; install a newer Node (in a clone of pgcdc, npx pgcdc uses the Node 24 that npm install brings)\n`);
  process.exit(1);
}
const entry = new URL('../dist/cli/main.js', import.meta.url);
let cli;
try {
  cli = await import(entry.href);
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(entry.pathname)) {
    process.stderr.write('pgcdc: error PGCDC_NOT_BUILT: pgcdc is not built (no dist/cli/main.js); run npm run build in the pgcdc folder\n');
    process.exit(1);
  }
  throw error;
}
cli.main(process.argv.slice(2)).then((code) => {
  // After an error, exit now: its line is written, and a native client that never
  // connected (librdkafka) would otherwise hold the process for its own timeout.
  if (code !== 0) process.exit(code);
  process.exitCode = code;
});
