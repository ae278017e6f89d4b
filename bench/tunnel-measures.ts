// The tunnel benchmark's measurements over running processes (bench/tunnel-processes.ts): a transfer with the CPU
// each process spent on it and the entry edge's RSS sampled meanwhile, memory per idle and per active stream, and
// latency (an interactive stream, pub/sub) alone and beside bulk streams on the same uplink.

import type { Address } from '../shared/topology.js';
import type { BenchChild } from './child.js';
import { Probe, Publisher } from './probe.js';
import type { BulkMoved } from './tunnel-bulk-process.js';
import { download, openActive, openIdle, pingPong, upload } from './tunnel-client.js';
import { askStats, type TunnelProcesses } from './tunnel-processes.js';

export type TunnelPath = 'relaymesh' | 'naive ws proxy' | 'direct TCP';
export type Direction = 'client→service' | 'service→client';

export interface Transfer {
  path: TunnelPath;
  direction: Direction;
  bytes: number;
  ms: number;
  /** MB/s once bytes flowed: after the first chunk, at the receiving end (no stream open, no last answer). */
  steadyMbPerSecond: number;
  /** CPU µs each process spent per MiB carried; entry: the edge or the naive proxy's local half; centre: the core or its remote half. */
  cpuPerMiB: { entry?: number; centre?: number; service: number; client: number };
  /** The entry edge's RSS every 250 ms during the transfer (relaymesh, when asked for). */
  rssSamples: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = 1024 * 1024;

/** Asks `child` for its RSS every `everyMs` until stopped; the samples come back from stop(). */
function sampleRss(child: BenchChild, everyMs: number): { stop(): Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push((await askStats(child)).rss);
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

export async function transfer(
  p: TunnelProcesses,
  path: TunnelPath,
  direction: Direction,
  bytes: number,
  sample = false,
): Promise<Transfer> {
  const address = path === 'relaymesh' ? p.forward('bench') : path === 'naive ws proxy' ? p.naive('bench') : p.direct;
  const [entry, centre] =
    path === 'relaymesh' ? [p.edge, p.core] : path === 'naive ws proxy' ? [p.naiveLocal, p.naiveRemote] : [];
  const cpuOf = async () => {
    const [e, c, s] = await Promise.all([entry && askStats(entry), centre && askStats(centre), askStats(p.service)]);
    const client = process.cpuUsage();
    return { entry: e?.cpuMicros, centre: c?.cpuMicros, service: s.cpuMicros, client: client.user + client.system };
  };
  const before = await cpuOf();
  const sampler = sample ? sampleRss(p.edge, 250) : undefined;
  // At least 5 MB/s, or the path is broken: fail rather than wait.
  const timeoutMs = 60_000 + bytes / 5000;
  const timed = await (direction === 'client→service' ? upload : download)(address, bytes, timeoutMs);
  const rssSamples = (await sampler?.stop()) ?? [];
  const after = await cpuOf();
  const per = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : (b - a) / (bytes / mib);
  return {
    path,
    direction,
    bytes,
    ms: timed.ms,
    steadyMbPerSecond: timed.steadyBytesPerMs / 1000,
    cpuPerMiB: {
      entry: per(before.entry, after.entry),
      centre: per(before.centre, after.centre),
      service: per(before.service, after.service)!,
      client: per(before.client, after.client)!,
    },
    rssSamples,
  };
}

/** The entry edge's RSS and heap per idle stream, after a full GC, against the same edge before they opened. */
export async function idleFootprint(p: TunnelProcesses, streams: number): Promise<{ rss: number; heap: number }> {
  const before = await askStats(p.edge, true);
  const sockets = await openIdle(p.forward('bench'), streams);
  try {
    const after = await askStats(p.edge, true);
    return { rss: (after.rss - before.rss) / streams, heap: (after.heapUsed - before.heapUsed) / streams };
  } finally {
    for (const socket of sockets) socket.destroy();
    await sleep(500);
  }
}

export interface ActiveFootprint {
  /** Peak RSS during the run, less the RSS before, per stream. */
  peakRssPerStream: number;
  /** After a full GC with the streams still running: what they hold, less the garbage they made. */
  rssAfterGcPerStream: number;
  arrayBuffersAfterGcPerStream: number;
  mbPerSecond: number;
}

/** The entry edge's memory per stream while `streams` echo streams run flat out, against the edge before they opened. */
export async function activeFootprint(
  p: TunnelProcesses,
  streams: number,
  durationMs: number,
): Promise<ActiveFootprint> {
  const before = await askStats(p.edge, true);
  const active = await openActive(p.forward('bench'), streams, 64 * 1024 * mib);
  const started = performance.now();
  const sampler = sampleRss(p.edge, 200);
  await sleep(durationMs);
  const samples = await sampler.stop();
  const collected = await askStats(p.edge, true);
  const echoed = active.stop();
  const seconds = (performance.now() - started) / 1000;
  await sleep(500);
  return {
    peakRssPerStream: (Math.max(...samples) - before.rss) / streams,
    rssAfterGcPerStream: (collected.rss - before.rss) / streams,
    arrayBuffersAfterGcPerStream: ((collected.arrayBuffers ?? 0) - (before.arrayBuffers ?? 0)) / streams,
    mbPerSecond: echoed / 1e6 / seconds,
  };
}

/** Runs `measure` while the bulk process moves data both ways through `address`; also what the bulk moved. */
export async function besideBulk<T>(
  p: TunnelProcesses,
  address: Address,
  maxBytes: number,
  measure: () => Promise<T>,
): Promise<{ result: T; bulk: BulkMoved }> {
  p.bulk.process.send({ start: { address, bytes: maxBytes } });
  await p.bulk.next('started');
  // Past slow start: the streams' windows are full and the uplink busy before anything is timed.
  await sleep(500);
  try {
    return { result: await measure(), bulk: await p.bulk.ask<BulkMoved>('stop', 'moved') };
  } catch (error) {
    await p.bulk.ask('stop', 'moved');
    throw error;
  }
}

export interface Percentiles {
  p50: number;
  p99: number;
}

const percentiles = (histogram: { getValueAtPercentile(p: number): number }): Percentiles => ({
  p50: histogram.getValueAtPercentile(50) / 1000,
  p99: histogram.getValueAtPercentile(99) / 1000,
});

/** An interactive stream's round trips (ms): 64-byte requests every 10 ms to the echo service. */
export async function interactive(p: TunnelProcesses, durationMs: number): Promise<Percentiles> {
  return percentiles(await pingPong(p.forward('bench'), 10, durationMs));
}

/** Publish→delivery (ms) of a publisher and a subscriber on the entry edge: both legs cross its uplink. */
export async function pubsub(p: TunnelProcesses, durationMs: number): Promise<Percentiles> {
  const topic = 'bench.tunnel';
  const probe = await Probe.open('relaymesh', p.edgeUrl, topic);
  const publisher = await Publisher.open('relaymesh', p.edgeUrl);
  try {
    const intervalMs = 5;
    const count = Math.floor(durationMs / intervalMs);
    // A fresh probe and publisher each time: sequence numbers start again.
    await publisher.publishPaced(topic, count, intervalMs, 'x'.repeat(100), 0);
    await probe.until(count, 30_000);
    return percentiles(probe.histogram);
  } finally {
    probe.close();
    publisher.close();
  }
}
