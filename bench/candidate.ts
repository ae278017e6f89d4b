// Starts a benchmark candidate as server processes: naive `ws`, Socket.IO, relaymesh (a core and an edge, each in
// its own process, so the edge's cost can be told apart from the core's), or NATS (a hub and a leaf node).

import type { HooksConfig } from '../shared/topology.js';
import { forkBench, type BenchChild } from './child.js';
import { startNatsCandidate } from './nats-candidate.js';
import type { ServerStats } from './server-process.js';
import type { CandidateKind } from './wires.js';

export interface CandidateStats {
  /** The process clients connect to (for relaymesh, the edge; for NATS, the leaf node). */
  server: ServerStats;
  /** relaymesh: the core; NATS: the hub. */
  core?: ServerStats;
}

export interface Candidate {
  kind: CandidateKind;
  /** ws://host:port clients connect to (relaymesh: the first edge). */
  url: string;
  /** relaymesh with several edges: each edge's URL. */
  urls: string[];
  /** Where the publisher connects: `url`, but for NATS the hub's client port (nats://…). */
  publisherUrl: string;
  /** An outside server's version (NATS), for the report. */
  version?: string;
  stats(collectGarbage?: boolean): Promise<CandidateStats>;
  stop(): void;
}

const serverArgs = ['--expose-gc'];

/**
 * `edges` (relaymesh only) starts that many edge processes on one core; stats then describe the first. `hooks`
 * (relaymesh only): the backend hooks every edge asks.
 */
export async function startCandidate(kind: CandidateKind, edges = 1, hooks?: HooksConfig): Promise<Candidate> {
  if (kind === 'nats') return startNatsCandidate();
  const children: BenchChild[] = [];
  const stop = (): void => children.forEach((child) => child.stop());
  try {
    let core: BenchChild | undefined;
    let server: BenchChild;
    if (kind === 'relaymesh') {
      core = forkBench('./server-process.ts', ['relaymesh-core'], serverArgs);
      children.push(core);
      const coreUrl = await core.next<string>('url');
      for (let i = 0; i < edges; i++)
        children.push(
          forkBench(
            './server-process.ts',
            ['relaymesh-edge', coreUrl, ...(hooks ? [JSON.stringify(hooks)] : [])],
            serverArgs,
          ),
        );
      server = children[1]!;
    } else {
      server = forkBench('./server-process.ts', [kind], serverArgs);
      children.push(server);
    }
    const urls = await Promise.all(
      children.filter((child) => child !== core).map((child) => child.next<string>('url')),
    );
    const url = urls[0]!;
    const question = (collectGarbage: boolean): string => (collectGarbage ? 'stats-gc' : 'stats');
    return {
      kind,
      url,
      urls,
      publisherUrl: url,
      stats: async (collectGarbage = false) => {
        const [serverStats, coreStats] = await Promise.all([
          server.ask<ServerStats>(question(collectGarbage), 'stats'),
          core?.ask<ServerStats>(question(collectGarbage), 'stats'),
        ]);
        return coreStats ? { server: serverStats, core: coreStats } : { server: serverStats };
      },
      stop,
    };
  } catch (error) {
    stop();
    throw error;
  }
}
