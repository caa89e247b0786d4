/** Runs the pgcdc CLI as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', `${root}src/cli/main.ts`, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  // Decoded as a stream: a multi-byte character split between two reads stays whole.
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => { stdout += d; });
  child.stderr!.on('data', (d: string) => { stderr += d; });
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<CliResult> {
  const running = startCli(args, env);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  return running.done.finally(() => clearTimeout(timer));
}

export async function waitForOutput(running: RunningCli, predicate: (stdout: string) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(running.stdout())) {
    if (Date.now() > deadline) throw new Error(`timed out; stdout: ${running.stdout()} stderr: ${running.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until the CLI says it is streaming (its slot exists and replication has
 * started): changes made after this are the CLI's to print, even on a temporary slot.
 */
export async function waitForStreaming(running: RunningCli, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/streaming slot /.test(running.stderr())) {
    if (Date.now() > deadline || running.child.exitCode !== null) throw new Error(`the CLI did not start streaming; stderr: ${running.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The lines of stderr that are errors (notices start with "pgcdc: " too, but not "pgcdc: error"). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('error'));
}

/** SIGTERM, as a service manager stops pgcdc; resolves with the exit code. */
export async function stopGracefully(running: RunningCli): Promise<number | null> {
  running.child.kill('SIGTERM');
  return (await running.done).code;
}

/** Writes config files into `dir`; returns each file's path. */
export function configWriter(dir: string): (name: string, text: string) => string {
  return (name, text) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
}
