// S1, idle footprint: server memory per connected, subscribed client (RSS and heap after a full GC, against the
// same server with no clients).

import { startCandidate } from '../candidate.js';
import { startLoad } from '../load.js';
import type { CandidateKind } from '../wires.js';

export interface IdleRow {
  candidate: CandidateKind;
  clients: number;
  rssBytesPerClient: number;
  heapBytesPerClient: number;
}

export async function runIdle(kind: CandidateKind, clients: number): Promise<IdleRow> {
  const candidate = await startCandidate(kind);
  try {
    const before = await candidate.stats(true);
    const load = await startLoad(kind, candidate.url, 'bench.idle', clients);
    try {
      const after = await candidate.stats(true);
      return {
        candidate: kind,
        clients,
        rssBytesPerClient: (after.server.rss - before.server.rss) / clients,
        heapBytesPerClient: (after.server.heapUsed - before.server.heapUsed) / clients,
      };
    } finally {
      await load.stop();
    }
  } finally {
    candidate.stop();
  }
}
