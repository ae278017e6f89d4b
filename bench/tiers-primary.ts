// S9, what the primary of `relaymesh edge --workers N` costs per published message: a burst to a topic of a few
// probes spread over the workers, so that the workers' fan-out is small and the primary's share (the message decoded
// once and written to each worker with a subscriber) is what is left to see.

import type { CliEdge } from './cli-edge.js';
import { Probe, type Publisher } from './probe.js';
import { padFor } from './scenarios/fanout.js';

export interface TierPrimaryRow {
  kind: 'primary';
  workers: number;
  messages: number;
  /** Workers that held at least one of the probes (the primary writes a frame to each). */
  workersReached: number;
  /** CPU per message beyond the idle rate measured just before: the primary alone, and the workers together. */
  primaryMicrosPerMessage: number;
  workersMicrosPerMessage: number;
}

const topic = 'bench.tiers.primary';
/** Enough that round-robin gives every worker some. */
const probesPerWorker = 4;
const inFlight = 16;
const idleMs = 1000;

export async function primaryCost(
  edge: CliEdge,
  publisher: Publisher,
  workers: number,
  messages: number,
): Promise<TierPrimaryRow> {
  const socketsBefore = await edge.clientSockets();
  const probes: Probe[] = [];
  try {
    for (let i = 0; i < probesPerWorker * workers; i++) probes.push(await Probe.open('relaymesh', edge.url, topic));
    const socketsAfter = await edge.clientSockets();
    const workersReached = socketsAfter.filter((held, index) => held > socketsBefore[index]!).length;
    // The idle rate (heartbeats, status, the clients' pings) is taken out of the burst's.
    const idleStart = edge.cpu();
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const idleEnd = edge.cpu();
    const pad = padFor(100);
    const started = performance.now();
    const before = edge.cpu();
    for (let seq = 1; seq <= messages; seq++) {
      await probes[0]!.until(seq - inFlight);
      publisher.publish(topic, { seq, t: performance.now() }, pad);
    }
    await Promise.all(probes.map((probe) => probe.until(messages)));
    const after = edge.cpu();
    const elapsedMs = performance.now() - started;
    const perMessage = (micros: (cpu: typeof before) => number): number => {
      const idleRate = (micros(idleEnd) - micros(idleStart)) / idleMs;
      return (micros(after) - micros(before) - idleRate * elapsedMs) / messages;
    };
    return {
      kind: 'primary',
      workers,
      messages,
      workersReached,
      primaryMicrosPerMessage: perMessage((cpu) => cpu.primaryMicros),
      workersMicrosPerMessage: perMessage((cpu) => cpu.edgeMicros - cpu.primaryMicros),
    };
  } finally {
    for (const probe of probes) probe.close();
  }
}
