/**
 * A deadline for each test file (loaded with --import by scripts/test.sh). The
 * runner's --test-timeout bounds one test; nothing bounds a file whose hook hangs
 * or whose child process keeps it alive. Past the deadline this prints one line,
 * stops the servers the file started (servers.ts) and exits non-zero, so the
 * run goes on and reports the file as failed.
 * PGCDC_TEST_FILE_DEADLINE_S sets it (default 900 s; the longest file takes
 * about 2 minutes here).
 */
import { stopAllServers } from './servers.ts';

// Only in the processes that run a test file, not in the runner that starts them.
if (process.env.NODE_TEST_CONTEXT !== undefined) {
  const seconds = Number(process.env.PGCDC_TEST_FILE_DEADLINE_S ?? 900);
  setTimeout(() => {
    process.stderr.write(`test file ${process.argv[1] ?? ''} passed its ${seconds} s deadline (PGCDC_TEST_FILE_DEADLINE_S): stopping its servers and failing it\n`);
    void stopAllServers().finally(() => process.exit(1));
  }, seconds * 1000).unref();
}
