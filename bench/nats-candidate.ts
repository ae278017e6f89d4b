// NATS as a benchmark candidate: a hub and a leaf node (nats-servers.ts), ready once a message published at the hub
// reaches a WebSocket subscriber of the leaf. CPU is read from /proc for both, as relaymesh's core and edge are counted.

import { setTimeout as delay } from 'node:timers/promises';
import type { Candidate } from './candidate.js';
import { findNatsServer, natsVersion, startNatsServers } from './nats-servers.js';
import { pidStats } from './pid-stats.js';
import { Probe, Publisher } from './probe.js';

const readyDeadlineMs = 15_000;

export async function startNatsCandidate(): Promise<Candidate> {
  const binary = findNatsServer();
  if (!binary) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const servers = await startNatsServers(binary);
  try {
    await untilLinked(servers.wsUrl, servers.hubUrl);
  } catch (error) {
    servers.stop();
    throw error;
  }
  return {
    kind: 'nats',
    url: servers.wsUrl,
    urls: [servers.wsUrl],
    publisherUrl: servers.hubUrl,
    // Go runs on every core unless told otherwise; a run that told it says so in the report.
    version: natsVersion(binary) + (process.env.GOMAXPROCS ? `, GOMAXPROCS=${process.env.GOMAXPROCS}` : ''),
    // "server" is the process the subscribers connect to, as for relaymesh (its edge); the hub stands where its core does.
    stats: async () => ({ server: pidStats(servers.leafPid), core: pidStats(servers.hubPid) }),
    stop: servers.stop,
  };
}

/** The leaf connects to the hub on its own time, and tells the hub of its subscriptions after: publish until one lands. */
async function untilLinked(wsUrl: string, hubUrl: string): Promise<void> {
  const probe = await Probe.open('nats', wsUrl, 'bench.ready');
  const publisher = await Publisher.open('nats', hubUrl);
  try {
    const deadline = Date.now() + readyDeadlineMs;
    for (let seq = 1; probe.seq === 0; seq++) {
      if (Date.now() > deadline)
        throw new Error(`nats: the leaf node got nothing from the hub in ${readyDeadlineMs} ms`);
      publisher.publish('bench.ready', { seq, t: performance.now() }, '');
      await delay(20);
    }
  } finally {
    probe.close();
    publisher.close();
  }
}
