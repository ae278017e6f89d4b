// Forks a TypeScript benchmark process and talks to it over IPC: await one message of a shape, ask and await the answer.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BenchChild {
  process: ChildProcess;
  next<T>(key: string, timeoutMs?: number): Promise<T>;
  ask<T>(question: string, key: string): Promise<T>;
  /** Kills it at once. */
  stop(): void;
  /** Asks it to leave (so a CPU profile is written), and kills it if it has not within 5 s. */
  end(): Promise<void>;
}

export function forkBench(script: string, args: string[], execArgv: string[] = []): BenchChild {
  // Scripts are named by their source (`./x.ts`); compiled into dist/, this module and they are `.js`.
  const compiled = import.meta.url.endsWith('.js');
  const child = fork(
    fileURLToPath(new URL(compiled ? script.replace(/\.ts$/, '.js') : script, import.meta.url)),
    args,
    {
      execArgv: ['--import', 'tsx', ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const stop = (): void => {
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
  };
  const next = <T>(key: string, timeoutMs = 120_000): Promise<T> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${script}: no ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: Record<string, unknown>): void => {
        if (!(key in message)) return;
        done();
        resolve(message[key] as T);
      };
      const onExit = (code: number | null): void => {
        done();
        reject(new Error(`${script} exited with ${code}`));
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  return {
    process: child,
    next,
    ask: (question, key) => {
      const answer = next<never>(key);
      child.send(question);
      return answer;
    },
    stop,
    end: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || !child.connected) {
          stop();
          return resolve();
        }
        const timer = setTimeout(() => {
          stop();
          resolve();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.disconnect();
      }),
  };
}
