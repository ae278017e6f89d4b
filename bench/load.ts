// Spreads subscribers over load processes of at most `perProcess` sockets, each from its own source address
// (127.0.0.2, .3, …), and sums what they count.

import { forkBench, type BenchChild } from './child.js';
import type { LoadCounts, LoadSpec } from './load-process.js';
import type { CandidateKind } from './wires.js';

export interface Load {
  counts(): Promise<LoadCounts>;
  /** Resolves once the subscribers together have received `frames` frames. */
  waitForFrames(frames: number, timeoutMs: number): Promise<void>;
  stopChurn(): Promise<void>;
  /** Closes every client (with resets) and ends the processes. */
  stop(): Promise<void>;
}

const perProcess = 15_000;
/** Source addresses rotate across runs, so one run's closed ports do not crowd the next. */
let nextAddress = 0;

/** Polls `counts` until the subscribers together have received `frames` frames; throws past `timeoutMs`. */
export async function waitForFrames(
  kind: string,
  counts: () => Promise<LoadCounts>,
  frames: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = (await counts()).frames;
    if (seen >= frames) return;
    if (Date.now() > deadline) throw new Error(`${kind}: ${seen} of ${frames} deliveries within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function sum(all: LoadCounts[]): LoadCounts {
  return all.reduce((total, one) => ({
    frames: total.frames + one.frames,
    bytes: total.bytes + one.bytes,
    open: total.open + one.open,
    subscribed: total.subscribed + one.subscribed,
  }));
}

/** Several loads as one (the latency scenario starts its subscribers in parts, with probes between them). */
export function combineLoads(kind: CandidateKind, loads: Load[]): Load {
  const counts = async (): Promise<LoadCounts> => sum(await Promise.all(loads.map((load) => load.counts())));
  return {
    counts,
    waitForFrames: (frames, timeoutMs) => waitForFrames(kind, counts, frames, timeoutMs),
    stopChurn: async () => {
      await Promise.all(loads.map((load) => load.stopChurn()));
    },
    stop: async () => {
      await Promise.all(loads.map((load) => load.stop()));
    },
  };
}

export async function startLoad(
  kind: CandidateKind,
  url: string,
  topic: string,
  total: number,
  churnPerSecond?: number,
): Promise<Load> {
  const children: BenchChild[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => child.end()));
  };
  try {
    const processes = Math.max(1, Math.ceil(total / perProcess));
    for (let i = 0; i < processes; i++) {
      const count = Math.floor(total / processes) + (i < total % processes ? 1 : 0);
      const spec: LoadSpec = {
        kind,
        url,
        topic,
        count,
        localAddress: `127.0.0.${2 + (nextAddress++ % 8)}`,
        mode: churnPerSecond ? 'churn' : 'hold',
        churnPerSecond: churnPerSecond ? churnPerSecond / processes : undefined,
      };
      children.push(forkBench('./load-process.ts', [JSON.stringify(spec)]));
    }
    await Promise.all(children.map((child) => child.next('ready', 300_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  const counts = async (): Promise<LoadCounts> =>
    sum(await Promise.all(children.map((child) => child.ask<LoadCounts>('count', 'counts'))));
  return {
    counts,
    waitForFrames: (frames, timeoutMs) => waitForFrames(kind, counts, frames, timeoutMs),
    async stopChurn() {
      await Promise.all(children.map((child) => child.ask('stop-churn', 'stopped')));
    },
    stop,
  };
}
