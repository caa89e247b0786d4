#!/usr/bin/env node
// Entry point of the published package: runs the compiled CLI (npm run build).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
