// Where a draining edge sends its clients: the first healthy peer edge, same region first (shared/edge-ranking.ts).

import type { Logger } from 'pino';
import { rankEdges } from '../shared/edge-ranking.js';

export interface PeerEdge {
  id: string;
  /** Its base URL (ws://host:port), as in the topology. */
  url: string;
  region: string;
}

/** The first peer whose /healthz answers 200 within `timeoutMs`, or undefined when none does. */
export async function findRedirectTarget(peers: readonly PeerEdge[], region: string, timeoutMs: number, logger: Logger): Promise<PeerEdge | undefined> {
  for (const peer of rankEdges(peers, region)) {
    try {
      const response = await fetch(`${peer.url.replace(/^ws/, 'http').replace(/\/+$/, '')}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
      if (response.ok) return peer;
      logger.debug({ peer: peer.id, status: response.status }, 'peer edge not ready for redirects');
    } catch (error) {
      logger.debug({ peer: peer.id, err: (error as Error).message }, 'peer edge unreachable');
    }
  }
  return undefined;
}
