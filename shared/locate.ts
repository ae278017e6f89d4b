// GET /v1/locate (docs/protocol.md §4): the best healthy edge for a client's region. Healthy edges only; the client's
// region first, then its neighbours in the order the topology declares, then the rest; within each group the least
// loaded first, then the topology's order. Clients connect to the answer directly: no proxy stays in the path.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientPath } from './protocol.js';
import { sendJson } from './http.js';
import type { EdgeStatus } from './mesh-status.js';

export interface LocateConfig {
  /** Region → its neighbour regions, nearest first: where clients of that region go when it has no healthy edge. */
  neighbours: Readonly<Record<string, readonly string[]>>;
  /** Edge ids in the topology's order, to break ties. */
  order: readonly string[];
  /** The request header naming the client's region, as a CDN or GeoIP front sets it (lower case). */
  regionHeader: string;
}

export const defaultLocateConfig: LocateConfig = Object.freeze({
  neighbours: {},
  order: [],
  regionHeader: 'x-relaymesh-region',
});

/** Longest region name taken from a request; anything longer is not a region. */
const maxRegionLength = 64;

/** The healthy edges of `edges`, best first, for a client of `region`. */
export function rankForClient(edges: readonly EdgeStatus[], region: string, config: LocateConfig): EdgeStatus[] {
  // Own keys only: a region named "constructor" must not find Object.prototype's.
  const neighbours = Object.hasOwn(config.neighbours, region) ? config.neighbours[region]! : [];
  const group = (edge: EdgeStatus): number => {
    if (edge.region === region) return 0;
    const near = neighbours.indexOf(edge.region);
    return near >= 0 ? 1 + near : 1 + neighbours.length;
  };
  const position = (edge: EdgeStatus): number => {
    const index = config.order.indexOf(edge.id);
    return index >= 0 ? index : config.order.length;
  };
  const load = (edge: EdgeStatus): number => edge.sessions / Math.max(1, edge.capacity);
  return edges
    .filter((edge) => edge.healthy)
    .sort((a, b) => group(a) - group(b) || load(a) - load(b) || position(a) - position(b) || a.id.localeCompare(b.id));
}

/** Where the request says its client is: the `region` query, else the configured header, else `fallback`. */
export function clientRegion(req: IncomingMessage, config: LocateConfig, fallback: string): string {
  const query = new URL(req.url ?? '/', 'http://locate').searchParams.get('region');
  const header = req.headers[config.regionHeader];
  const named = query ?? (Array.isArray(header) ? header[0] : header);
  const region = named?.trim() ?? '';
  return region.length > 0 && region.length <= maxRegionLength ? region : fallback;
}

/** The client URL of an edge: its base URL plus /v1/ws. */
export function clientUrlOf(edge: Pick<EdgeStatus, 'url'>): string {
  return `${edge.url.replace(/\/+$/, '')}${clientPath}`;
}

/**
 * Answers a locate request from `edges` (what this node knows of the mesh): 307 to the best edge, or with
 * `Accept: application/json` 200 `{edge, region, url, candidates}` (every healthy edge in order, so a client can try
 * the next when one fails); 503 when no edge is healthy.
 */
export function answerLocate(
  req: IncomingMessage,
  res: ServerResponse,
  edges: readonly EdgeStatus[],
  ownRegion: string,
  config: LocateConfig,
): void {
  const region = clientRegion(req, config, ownRegion);
  const ranked = rankForClient(edges, region, config);
  // Any page may ask where to connect (the answer names public URLs), and no cache may keep a health-based answer.
  const headers = {
    'cache-control': 'no-store',
    'access-control-allow-origin': '*',
    vary: `accept, ${config.regionHeader}`,
  };
  const best = ranked[0];
  if (!best) return sendJson(res, 503, { error: { code: 'unavailable', message: 'no healthy edge' } }, headers);
  const candidates = ranked.map((edge) => ({ edge: edge.id, region: edge.region, url: clientUrlOf(edge) }));
  if (wantsJson(req)) return sendJson(res, 200, { ...candidates[0], candidates }, headers);
  res.writeHead(307, { ...headers, location: candidates[0]!.url, 'content-length': '0' });
  res.end();
}

function wantsJson(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('application/json');
}
