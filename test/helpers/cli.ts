// Runs the real, compiled `relaymesh` command line as a child process from the repository root, for the CLI tests: one command
// to its end, or a long-running one (`up`, `core`, `edge`) on a topology written with free ports.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { within } from './within.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/** The command as installed users run it: compiled (`npm test` builds first), no TypeScript loader. */
export const cli = join(root, 'dist', 'cli', 'main.js');
/** Generous: a loaded machine. */
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

/** Runs `relaymesh …args` from the repository root (with `env` added to this process's); killed in teardown if still running. */
export function startCli(t: ExecutionContext, args: readonly string[], env: Record<string, string> = {}): Cli {
  return startNode(t, [cli, ...args], { env });
}

/** Runs `node …args` (in `cwd`, default the repository root); killed in teardown if still running. */
export function startNode(
  t: ExecutionContext,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Cli {
  const env = options.env ?? {};
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? root,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  const describe = (): string => `node ${args.join(' ')}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
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
      const onClose = (code: number | null): void =>
        finish(done() ? undefined : new Error(`exited (${code}) before ${what}\n${describe()}`));
      const timer = setTimeout(
        () => finish(new Error(`no ${what} within ${DEADLINE_MS} ms\n${describe()}`)),
        DEADLINE_MS,
      );
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

/** Runs `relaymesh …args` to its end; its exit and output. */
export async function runCli(
  t: ExecutionContext,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Exit & { stdout: string; stderr: string }> {
  const child = startCli(t, args, env);
  const exit = await within(child.exited, `relaymesh ${args.join(' ')}`, DEADLINE_MS);
  return { ...exit, stdout: child.stdout, stderr: child.stderr };
}

/** A temporary folder, removed in teardown. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `count` distinct ports that were free a moment ago (all held open at once, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** GETs `url` until it answers `status`; every try is a fresh request (an event), bounded in number. */
export async function untilStatus(
  url: string,
  status: number,
  tries = 2000,
  headers: Record<string, string> = {},
): Promise<unknown> {
  let last = 'no answer';
  for (let i = 0; i < tries; i++) {
    try {
      const response = await fetch(url, { headers });
      const body: unknown = await response.json();
      if (response.status === status) return body;
      last = `${response.status} ${JSON.stringify(body)}`;
    } catch (error) {
      last = (error as Error).message;
    }
  }
  throw new Error(`${url} never answered ${status}; last: ${last}`);
}

export interface RunningTopology {
  cli: Cli;
  /** The ports given to the topology, in the order asked for. */
  ports: number[];
  file: string;
}

/**
 * Writes the topology `build` makes from `portCount` free ports and runs `relaymesh …command --topology F` on it until
 * it has printed `listening` lines for `nodes` nodes, retrying with new ports if one was taken meanwhile.
 */
export async function runTopology(
  t: ExecutionContext,
  options: {
    command: readonly string[];
    portCount: number;
    nodes: number;
    build(ports: number[]): unknown;
    env?: Record<string, string>;
  },
): Promise<RunningTopology> {
  const dir = await tempDir(t);
  let lastFailure = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const ports = await freePorts(options.portCount);
    const file = join(dir, `topology-${attempt}.json`);
    await writeFile(file, JSON.stringify(options.build(ports), null, 2));
    const running = startCli(t, [...options.command, '--topology', file, '--log-level', 'warn'], options.env);
    const printed = (): number => running.stdout.split('\n').filter((line) => / listening on /.test(line)).length;
    try {
      await running.waitFor(() => printed() >= options.nodes, 'a line per node');
      return { cli: running, ports, file };
    } catch (error) {
      lastFailure = (error as Error).message;
      if (!/EADDRINUSE/.test(running.stderr)) throw error;
    }
  }
  throw new Error(`relaymesh ${options.command.join(' ')} could not bind free ports: ${lastFailure}`);
}
