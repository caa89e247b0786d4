// node --import=…/memory-at-exit.mjs: at exit, the process writes one line to
// stderr splitting its memory into what it owns and what it maps from files:
//   MEMORY hwm=<peak RSS kB> file=<RssFile kB> anon=<RssAnon kB>
// RssFile is mostly the node executable's own pages (code and read-only data
// the process ran): clean, shared with every node process, dropped and read
// again under memory pressure, and a floor no JavaScript change moves (an
// idle `node -e 0` already has 35 MB of them). Read at exit: file pages, once
// touched, stay, so the peak's file part is about the exit's, and
// hwm - file is about the peak of what the process itself allocated.
import { readFileSync, writeSync } from 'node:fs';

process.on('exit', () => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  writeSync(2, `MEMORY hwm=${kb('VmHWM')} file=${kb('RssFile')} anon=${kb('RssAnon')}\n`);
});
