// S5, churn: clients keep connecting, subscribing and leaving while messages are broadcast to stable subscribers;
// throughput and p99 during the churn, and whether memory, sockets and sessions come back afterwards (leaks).

import { startLoad } from '../load.js';
import { withTraffic } from '../traffic.js';
import type { CandidateKind } from '../wires.js';
import { padFor } from './fanout.js';

export interface ChurnRow {
  candidate: CandidateKind;
  stable: number;
  churnPerSecond: number;
  /** Deliveries per second to the stable subscribers during the churn. */
  deliveriesPerSecond: number;
  p99Ms: number;
  /** After the churn stopped and its clients left, against before it began (after a full GC). */
  rssGrowthMiB: number;
  /** The same for the JavaScript heap: what a leak of sessions or subscriptions would show. */
  heapGrowthMiB: number;
  fdGrowth: number;
  /** relaymesh: sessions left open beyond the stable ones. */
  leftoverSessions?: number;
}

const topic = 'bench.churn';

export async function runChurn(
  kind: CandidateKind,
  stable: number,
  churning: number,
  churnPerSecond: number,
  durationMs: number,
  messagesPerSecond: number,
): Promise<ChurnRow> {
  return withTraffic(kind, topic, stable, async ({ candidate, load, probe, publisher }) => {
    const before = await candidate.stats(true);
    const churn = await startLoad(kind, candidate.url, topic, churning, churnPerSecond);
    const framesBefore = (await load.counts()).frames;
    const messages = Math.round((messagesPerSecond * durationMs) / 1000);
    const started = await publisher.publishPaced(topic, messages, 1000 / messagesPerSecond, padFor(100), 0);
    await load.waitForFrames(framesBefore + messages * stable, 120_000);
    await probe.until(messages);
    const elapsed = performance.now() - started;
    await churn.stopChurn();
    await churn.stop();
    // Let the server see the churn clients' sockets close before measuring what is left.
    const deadline = Date.now() + 10_000;
    let after = await candidate.stats(true);
    const settled = (): boolean =>
      after.server.fds <= before.server.fds && (after.server.sessions ?? 0) <= (before.server.sessions ?? 0);
    while (!settled() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await candidate.stats(true);
    }
    return {
      candidate: kind,
      stable,
      churnPerSecond,
      deliveriesPerSecond: (messages * stable) / (elapsed / 1000),
      p99Ms: probe.histogram.getValueAtPercentile(99) / 1000,
      rssGrowthMiB: (after.server.rss - before.server.rss) / 1024 / 1024,
      heapGrowthMiB: (after.server.heapUsed - before.server.heapUsed) / 1024 / 1024,
      fdGrowth: after.server.fds - before.server.fds,
      ...(after.server.sessions !== undefined
        ? { leftoverSessions: after.server.sessions - (before.server.sessions ?? 0) }
        : {}),
    };
  });
}
