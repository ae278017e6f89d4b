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

function end(child: BenchChild): Promise<void> {
  return new Promise((resolve) => {
    if (child.process.exitCode !== null || !child.process.connected) {
      child.stop();
      return resolve();
    }
    const timer = setTimeout(() => {
      child.stop();
      resolve();
    }, 5000);
    child.process.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.process.disconnect();
  });
}

export async function startLoad(kind: CandidateKind, url: string, topic: string, total: number, churnPerSecond?: number): Promise<Load> {
  const children: BenchChild[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(end));
  };
  try {
    const processes = Math.max(1, Math.ceil(total / perProcess));
    for (let i = 0; i < processes; i++) {
      const count = Math.floor(total / processes) + (i < total % processes ? 1 : 0);
      const spec: LoadSpec = {
        kind, url, topic, count, localAddress: `127.0.0.${2 + (nextAddress++ % 8)}`,
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
  const counts = async (): Promise<LoadCounts> => {
    const all = await Promise.all(children.map((child) => child.ask<LoadCounts>('count', 'counts')));
    return all.reduce((sum, one) => ({ frames: sum.frames + one.frames, bytes: sum.bytes + one.bytes, open: sum.open + one.open, subscribed: sum.subscribed + one.subscribed }));
  };
  return {
    counts,
    async waitForFrames(frames, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const seen = (await counts()).frames;
        if (seen >= frames) return;
        if (Date.now() > deadline) throw new Error(`${kind}: ${seen} of ${frames} deliveries within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stopChurn() {
      await Promise.all(children.map((child) => child.ask('stop-churn', 'stopped')));
    },
    stop,
  };
}
