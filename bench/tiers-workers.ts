// S9, `relaymesh edge --workers N`: deliveries per second and latency at rising rates (as S3) for N = 1 and 2, the
// edge and its core run by the compiled command line, with the CPU of the edge's processes; and how node:cluster
// spread those clients over 2 workers, round-robin (Node's default on Linux) and, in a run of its own, left to the OS.

import { startCliEdge, type CliEdge } from './cli-edge.js';
import { openAudience, pacedStep, type Audience } from './paced-step.js';
import { Publisher } from './probe.js';
import { primaryCost, type TierPrimaryRow } from './tiers-primary.js';
import { padFor } from './scenarios/fanout.js';

export interface TierWorkersRow {
  kind: 'workers';
  workers: number;
  subscribers: number;
  /** Deliveries per second asked for. */
  rate: number;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU over the step, in cores: the edge's processes together, its primary alone, the core. */
  edgeCores: number;
  primaryCores: number;
  coreCores: number;
  /** The primary's CPU in the second before the steps, with the clients connected and nothing published. */
  primaryIdleCores: number;
  messagesPerSecond: number;
  stepMs: number;
}

export interface TierSpreadRow {
  kind: 'spread';
  /** NODE_CLUSTER_SCHED_POLICY: `rr`, the primary accepts and hands out in turn; `none`, the workers accept. */
  policy: 'rr' | 'none';
  /** Client sockets each worker held. */
  perWorker: number[];
}

export interface TierWorkersSizes {
  subscribers: number;
  /** Deliveries per second, rising; the steps stop at saturation. */
  rates: number[];
  workers: number[];
  stepMs: number;
  /** The burst that measures CPU per message with few subscribers (bench/tiers-primary.ts). */
  primaryMessages: number;
}

const topic = 'bench.tiers.workers';
const payloadBytes = 100;
const idleMs = 1000;

/** The edge with its subscribers (and probes) and a publisher, as both parts open them; closed in any case. */
async function withClients<T>(
  edge: CliEdge,
  subscribers: number,
  use: (audience: Audience, publisher: Publisher) => Promise<T>,
): Promise<T> {
  let audience: Audience | undefined;
  let publisher: Publisher | undefined;
  try {
    audience = await openAudience(edge.url, topic, subscribers);
    publisher = await Publisher.open('relaymesh', edge.publisherUrl);
    return await use(audience, publisher);
  } finally {
    publisher?.close();
    await audience?.close();
    await edge.stop();
  }
}

export async function tiersWorkers(
  size: TierWorkersSizes,
  progress: (line: string) => void,
): Promise<Array<TierWorkersRow | TierSpreadRow | TierPrimaryRow>> {
  const rows: Array<TierWorkersRow | TierSpreadRow | TierPrimaryRow> = [];
  for (const workers of size.workers) {
    progress(`S9 tiers: relaymesh edge --workers ${workers}, ${size.subscribers} subscribers`);
    // Node's default on Linux, named so that a NODE_CLUSTER_SCHED_POLICY in the environment cannot change it unseen.
    const edge = await startCliEdge(workers, { NODE_CLUSTER_SCHED_POLICY: 'rr' });
    await withClients(edge, size.subscribers, async (audience, publisher) => {
      if (workers === 2) rows.push({ kind: 'spread', policy: 'rr', perWorker: await edge.clientSockets() });
      // The primary's idle rate (heartbeats and status on its links), to tell its work per message apart.
      const idleStart = edge.cpu();
      await new Promise((resolve) => setTimeout(resolve, idleMs));
      const primaryIdleCores = (edge.cpu().primaryMicros - idleStart.primaryMicros) / 1000 / idleMs;
      const pad = padFor(payloadBytes);
      let seq = 0;
      for (const rate of size.rates) {
        const messages = Math.max(10, Math.round((rate / size.subscribers) * (size.stepMs / 1000)));
        const before = edge.cpu();
        const figures = await pacedStep(audience, publisher, messages, size.stepMs / messages, pad, seq);
        const after = edge.cpu();
        seq += messages;
        const seconds = Math.max(figures.elapsedMs, size.stepMs) / 1000;
        const cores = (field: keyof typeof before): number => (after[field] - before[field]) / 1e6 / seconds;
        rows.push({
          kind: 'workers',
          workers,
          subscribers: size.subscribers,
          rate,
          achieved: figures.achieved,
          p50Ms: figures.p50Ms,
          p99Ms: figures.p99Ms,
          edgeCores: cores('edgeMicros'),
          primaryCores: cores('primaryMicros'),
          primaryIdleCores,
          coreCores: cores('coreMicros'),
          messagesPerSecond: messages / seconds,
          stepMs: size.stepMs,
        });
        if (figures.saturated || figures.p99Ms > 1000) break;
      }
      rows.push(await primaryCost(edge, publisher, workers, size.primaryMessages));
    });
  }
  return rows;
}

/** The same clients as `tiersWorkers` opens for 2 workers, with the workers accepting them themselves. */
export async function tiersSpread(subscribers: number, progress: (line: string) => void): Promise<TierSpreadRow> {
  progress(`S9 tiers: ${subscribers} subscribers over 2 workers, NODE_CLUSTER_SCHED_POLICY=none`);
  const edge = await startCliEdge(2, { NODE_CLUSTER_SCHED_POLICY: 'none' });
  return withClients(edge, subscribers, async () => ({
    kind: 'spread',
    policy: 'none',
    perWorker: await edge.clientSockets(),
  }));
}
