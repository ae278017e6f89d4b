// Starts presence load processes (bench/presence-load-process.ts), each from its own source address, and drives them:
// start, stop, and the counts they keep.

import { forkBench, type BenchChild } from './child.js';
import type { PresenceLoadCounts, PresenceLoadSpec, WatchCheck } from './presence-load-process.js';
import type { ServerStats } from './server-process.js';

export interface PresenceLoad {
  counts(): Promise<PresenceLoadCounts>;
  /** watch mode only. */
  check(): Promise<WatchCheck>;
  /** The process's CPU so far (and memory). */
  stats(): Promise<ServerStats>;
  start(): Promise<void>;
  /** Resolves once every loop has finished what it was doing. */
  stop(): Promise<PresenceLoadCounts>;
  end(): Promise<void>;
}

/** Rotates over 127.0.0.2–.9, as bench/load.ts does, so no one address runs short of ports. */
let nextAddress = 0;

export async function startPresenceLoad(spec: Omit<PresenceLoadSpec, 'localAddress'>): Promise<PresenceLoad> {
  const full: PresenceLoadSpec = { ...spec, localAddress: `127.0.0.${2 + (nextAddress++ % 8)}` };
  const child: BenchChild = forkBench('./presence-load-process.ts', [JSON.stringify(full)]);
  try {
    await child.next('ready', 300_000);
  } catch (error) {
    child.stop();
    throw error;
  }
  return {
    counts: () => child.ask<PresenceLoadCounts>('count', 'counts'),
    check: () => child.ask<WatchCheck>('check', 'checked'),
    stats: () => child.ask<ServerStats>('stats', 'stats'),
    start: async () => void (await child.ask('start', 'started')),
    stop: () => child.ask<PresenceLoadCounts>('stop', 'stopped'),
    end: () => child.end(),
  };
}

/** Sums what several processes counted. */
export function sumCounts(all: PresenceLoadCounts[]): PresenceLoadCounts {
  const firstFailure = all.find((one) => one.firstFailure)?.firstFailure;
  return {
    done: all.reduce((sum, one) => sum + one.done, 0),
    failures: all.reduce((sum, one) => sum + one.failures, 0),
    ...(firstFailure ? { firstFailure } : {}),
  };
}

/** Polls `check` until it holds; false past `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
