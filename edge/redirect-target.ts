// Where a draining edge sends its clients: the first healthy peer edge, same region first (shared/edge-ranking.ts).

import type { Logger } from 'pino';
import { rankEdges } from '../shared/edge-ranking.js';
import { answersOk } from './health-check.js';
import type { ProxyRoute } from './proxy.js';
import { httpBaseOf } from '../shared/protocol.js';

export interface PeerEdge {
  id: string;
  /** Its base URL (ws://host:port), as in the topology. */
  url: string;
  region: string;
}

/** The first peer whose /healthz answers 2xx within `timeoutMs` (https peers checked against `ca`), or undefined. */
export async function findRedirectTarget(
  peers: readonly PeerEdge[],
  region: string,
  timeoutMs: number,
  logger: Logger,
  ca?: Buffer,
  proxy?: ProxyRoute,
): Promise<PeerEdge | undefined> {
  for (const peer of rankEdges(peers, region)) {
    if (await answersOk(`${httpBaseOf(peer.url)}/healthz`, ca, timeoutMs, proxy)) return peer;
    logger.debug({ peer: peer.id }, 'peer edge not ready for redirects');
  }
  return undefined;
}
