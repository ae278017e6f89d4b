// S8 backend hooks: what asking a backend adds to connect, sub and pub. The same mesh without hooks and with all three
// (a local backend in its own process that allows everything): client-side latency of one operation at a time, and
// connects per second from load processes, each keeping a few connects in progress.

import { setTimeout as delay } from 'node:timers/promises';
import hdr from 'hdr-histogram-js';
import { defaultHookTimeoutMs } from '../shared/topology-hooks.js';
import { startCandidate, type Candidate } from './candidate.js';
import { forkBench, type BenchChild } from './child.js';
import { openSession, openSocket, request } from './mesh-session.js';
import { startPresenceLoad, sumCounts } from './presence-load.js';
import type { ServerStats } from './server-process.js';

export interface HookSizes {
  /** Operations timed one at a time, per kind (after a warm-up). */
  samples: number;
  rounds: number;
  /** Connect load: processes (one source address each), connects in progress in each, for how long. */
  processes: number;
  concurrency: number;
  durationMs: number;
}

export interface HookRow {
  kind: 'hooks';
  hooked: boolean;
  round: number;
  samples: number;
  /** The connect load: processes, connects in progress in each, seconds. */
  processes: number;
  concurrency: number;
  seconds: number;
  connectP50Ms: number;
  connectP99Ms: number;
  subP50Ms: number;
  subP99Ms: number;
  pubP50Ms: number;
  pubP99Ms: number;
  connectsPerSecond: number;
  connectFailures: number;
  firstFailure?: string;
  edgeMicrosPerConnect: number;
  /** The load processes' CPU per connect: the clients' share of the 2 cores. */
  clientMicrosPerConnect: number;
  /** With hooks: the backend's CPU per connect hook call. */
  backendMicrosPerCall?: number;
}

/** Operations not timed first: the first ones open the edge's connections to the backend and warm the code. */
export const hookWarmup = 50;
/** Held by another session, so a `sub` is answered by the edge (and its hook) without a round trip to the core. */
const subTopic = 'bench.hooks.sub';
const pubTopic = 'bench.hooks.pub';

type Percentiles = { p50Ms: number; p99Ms: number };

/** Runs `once` (which times what it measures, in ms) hookWarmup + samples times. */
async function timed(samples: number, once: () => Promise<number>): Promise<Percentiles> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000 });
  for (let i = 0; i < hookWarmup + samples; i++) {
    const ms = await once();
    if (i >= hookWarmup) histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }
  return { p50Ms: histogram.getValueAtPercentile(50) / 1000, p99Ms: histogram.getValueAtPercentile(99) / 1000 };
}

async function latencies(url: string, samples: number) {
  const connect = await timed(samples, async () => {
    const client = await openSocket(url);
    try {
      const started = performance.now();
      await request(client, { op: 'connect' }, 'welcome');
      return performance.now() - started;
    } finally {
      client.close();
    }
  });
  const holder = await openSession(url);
  const client = await openSession(url);
  try {
    await request(holder, { op: 'sub', id: 1, topic: subTopic }, 'subok');
    let id = 0;
    const sub = await timed(samples, async () => {
      const started = performance.now();
      await request(client, { op: 'sub', id: ++id, topic: subTopic }, 'subok');
      const ms = performance.now() - started;
      await request(client, { op: 'unsub', id: ++id, topic: subTopic }, 'unsubok');
      return ms;
    });
    const pub = await timed(samples, async () => {
      const started = performance.now();
      await request(client, { op: 'pub', id: ++id, topic: pubTopic, data: { id } }, 'puback');
      return performance.now() - started;
    });
    return { connect, sub, pub };
  } finally {
    holder.close();
    client.close();
  }
}

async function connectRate(candidate: Candidate, backend: BenchChild | undefined, size: HookSizes) {
  const loads = await Promise.all(
    Array.from({ length: size.processes }, () =>
      startPresenceLoad({ mode: 'connect', url: candidate.url, topic: '', count: size.concurrency }),
    ),
  );
  try {
    const backendStats = () => backend?.ask<ServerStats>('stats', 'stats');
    const clientMicros = async (): Promise<number> =>
      (await Promise.all(loads.map((load) => load.stats()))).reduce((sum, stats) => sum + stats.cpuMicros, 0);
    const [before, backendBefore, clientBefore] = await Promise.all([
      candidate.stats(),
      backendStats(),
      clientMicros(),
    ]);
    const started = performance.now();
    await Promise.all(loads.map((load) => load.start()));
    await delay(size.durationMs);
    const counts = sumCounts(await Promise.all(loads.map((load) => load.stop())));
    const elapsedMs = performance.now() - started;
    const [after, backendAfter, clientAfter] = await Promise.all([candidate.stats(), backendStats(), clientMicros()]);
    const calls = counts.done + counts.failures;
    return {
      connectsPerSecond: counts.done / (elapsedMs / 1000),
      connectFailures: counts.failures,
      ...(counts.firstFailure ? { firstFailure: counts.firstFailure } : {}),
      edgeMicrosPerConnect: (after.server.cpuMicros - before.server.cpuMicros) / counts.done,
      clientMicrosPerConnect: (clientAfter - clientBefore) / counts.done,
      ...(backendBefore && backendAfter
        ? { backendMicrosPerCall: (backendAfter.cpuMicros - backendBefore.cpuMicros) / calls }
        : {}),
    };
  } finally {
    await Promise.all(loads.map((load) => load.end()));
  }
}

async function measure(hooked: boolean, round: number, size: HookSizes): Promise<HookRow> {
  const backend = hooked ? forkBench('./hook-backend-process.ts', []) : undefined;
  try {
    const base = backend ? await backend.next<string>('url') : undefined;
    const hooks = base
      ? {
          connect: `${base}/rm/connect`,
          subscribe: `${base}/rm/subscribe`,
          publish: `${base}/rm/publish`,
          timeoutMs: defaultHookTimeoutMs,
        }
      : undefined;
    const candidate = await startCandidate('relaymesh', 1, hooks);
    try {
      const { connect, sub, pub } = await latencies(candidate.url, size.samples);
      return {
        kind: 'hooks',
        hooked,
        round,
        samples: size.samples,
        processes: size.processes,
        concurrency: size.concurrency,
        seconds: size.durationMs / 1000,
        connectP50Ms: connect.p50Ms,
        connectP99Ms: connect.p99Ms,
        subP50Ms: sub.p50Ms,
        subP99Ms: sub.p99Ms,
        pubP50Ms: pub.p50Ms,
        pubP99Ms: pub.p99Ms,
        ...(await connectRate(candidate, backend, size)),
      };
    } finally {
      candidate.stop();
    }
  } finally {
    backend?.stop();
  }
}

export async function presenceHooks(size: HookSizes, progress: (line: string) => void): Promise<HookRow[]> {
  const rows: HookRow[] = [];
  for (let round = 0; round < size.rounds; round++) {
    // Which goes first alternates, so drift on the machine favours neither.
    for (const hooked of round % 2 ? [true, false] : [false, true]) {
      progress(`S8 hooks: ${hooked ? 'with' : 'without'} hooks, round ${round + 1}`);
      rows.push(await measure(hooked, round, size));
    }
  }
  return rows;
}
