#!/usr/bin/env -S node --max-semi-space-size=8
// Entry point of the published package: runs the compiled CLI (npm run build).
// --max-semi-space-size=8: pgcdc allocates many short-lived objects per change;
// Node's default young generation lets the heap balloon to about twice the peak
// memory for the same throughput (docs/benchmarks.md).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
