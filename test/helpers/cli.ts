// Runs the real `relaymesh` command line as a child process from the repository root, for the CLI tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { within } from './within.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'cli', 'relaymesh.js');
/** Generous: each command starts tsx and compiles on a loaded machine. */
export const DEADLINE_MS = 60_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Cli {
  readonly process: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  readonly exited: Promise<Exit>;
  /** Resolves once `done()` holds, checked whenever the child writes; rejects if it exits first or at the deadline. */
  waitFor(done: () => boolean, what: string): Promise<void>;
}

/** Runs `relaymesh …args` from the repository root; killed in teardown if still running. */
export function startCli(t: ExecutionContext, args: readonly string[]): Cli {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });
  const describe = (): string => `relaymesh ${args.join(' ')}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
  const waitFor = (done: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        child.stdout.off('data', check);
        child.stderr.off('data', check);
        child.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      // Listeners added after the collectors above, so the text is already appended when these run.
      const check = (): void => {
        if (done()) finish();
      };
      const onClose = (code: number | null): void => finish(done() ? undefined : new Error(`exited (${code}) before ${what}\n${describe()}`));
      const timer = setTimeout(() => finish(new Error(`no ${what} within ${DEADLINE_MS} ms\n${describe()}`)), DEADLINE_MS);
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      child.on('close', onClose);
      check();
    });
  return {
    process: child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    waitFor,
  };
}
/** Runs `relaymesh …args` to its end; its exit code and output. */
export async function runCli(t: ExecutionContext, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(t, args);
  const { code } = await within(cli.exited, `relaymesh ${args.join(' ')}`, DEADLINE_MS);
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}
