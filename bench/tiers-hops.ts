// S9, latency per hub hop: publish→delivery at steady rates to an edge straight on the core, one behind a hub, and
// one behind two chained hubs (edge → hub → hub → core). One mesh holds all three, each edge's subscribers on a topic
// of its own, and the publisher on an edge straight on the core: a message crosses the hubs on its way down only. The
// probes subscribe first, so the edge's writes to the others stay out of the figure. The three take turns, the first
// of a round rotating, so drift on the machine does not favour one.

import { openAudience, pacedStep, type Audience } from './paced-step.js';
import { Publisher } from './probe.js';
import { padFor } from './scenarios/fanout.js';
import { startTierMesh, type TierNode } from './tier-mesh.js';

export interface TierHopRow {
  kind: 'hop';
  /** Hubs between the subscribers' edge and the core. */
  hubs: number;
  round: number;
  subscribers: number;
  messagesPerSecond: number;
  stepMs: number;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
}

export interface TierHopSizes {
  subscribers: number;
  /** Messages per second to each path, a rate after another. */
  rates: number[];
  stepMs: number;
  rounds: number;
}

const payloadBytes = 100;
/** Unrecorded, before the rounds: every path's code is compiled hot before any is measured. */
const warmupMs = 500;
const paths = [
  { hubs: 0, edge: 'direct' },
  { hubs: 1, edge: 'via-1' },
  { hubs: 2, edge: 'via-2' },
];

export async function tiersHops(size: TierHopSizes, progress: (line: string) => void): Promise<TierHopRow[]> {
  const nodes: TierNode[] = [
    { id: 'central', role: 'core' },
    { id: 'publisher', role: 'edge', upstream: 'central' },
    { id: 'direct', role: 'edge', upstream: 'central' },
    { id: 'hub-1', role: 'hub', upstream: 'central' },
    { id: 'via-1', role: 'edge', upstream: 'hub-1' },
    { id: 'hub-2', role: 'hub', upstream: 'hub-1' },
    { id: 'via-2', role: 'edge', upstream: 'hub-2' },
  ];
  progress(`S9 tiers: hub hops, ${size.subscribers} subscribers at ${size.rates.join(' and ')} messages/s`);
  const mesh = await startTierMesh(nodes);
  const audiences: Audience[] = [];
  let publisher: Publisher | undefined;
  try {
    for (const path of paths)
      audiences.push(
        await openAudience(mesh.url(path.edge), `bench.tiers.hops.${path.hubs}`, size.subscribers, 'first'),
      );
    publisher = await Publisher.open('relaymesh', mesh.url('publisher'));
    const pad = padFor(payloadBytes);
    const seqs = paths.map(() => 0);
    const step = async (index: number, rate: number, ms: number) => {
      const intervalMs = 1000 / rate;
      const messages = Math.max(10, Math.round(ms / intervalMs));
      const figures = await pacedStep(audiences[index]!, publisher!, messages, intervalMs, pad, seqs[index]!);
      seqs[index]! += messages;
      return figures;
    };
    for (const index of paths.keys()) await step(index, size.rates[0]!, warmupMs);
    const rows: TierHopRow[] = [];
    for (const rate of size.rates) {
      for (let round = 0; round < size.rounds; round++) {
        const order = paths.map((_, i) => (i + round) % paths.length);
        for (const index of order) {
          const figures = await step(index, rate, size.stepMs);
          rows.push({
            kind: 'hop',
            hubs: paths[index]!.hubs,
            round,
            subscribers: size.subscribers,
            messagesPerSecond: rate,
            stepMs: size.stepMs,
            achieved: figures.achieved,
            p50Ms: figures.p50Ms,
            p99Ms: figures.p99Ms,
          });
        }
      }
    }
    return rows;
  } finally {
    publisher?.close();
    await Promise.all(audiences.map((audience) => audience.close()));
    await mesh.stop();
  }
}
