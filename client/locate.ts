// Finds edges for the SDK through GET /v1/locate (docs/protocol.md §4) on any node of the mesh: the best healthy edge
// for the client's region first, then the others in order, so the client can try the next when one fails.

import { MeshError } from './mesh-error.js';
import { httpBaseOf } from '../shared/protocol.js';

/** Client URLs (…/v1/ws) of healthy edges, best first; asks each of `nodes` in turn until one answers. */
export async function locateEdges(nodes: readonly string[], region: string | undefined): Promise<string[]> {
  const problems: string[] = [];
  for (const node of nodes) {
    const url = locateUrl(node, region);
    try {
      const response = await fetch(url, { headers: { accept: 'application/json' } });
      if (!response.ok) {
        problems.push(`${url}: ${response.status}`);
        continue;
      }
      const body = (await response.json()) as { url?: unknown; candidates?: Array<{ url?: unknown }> };
      const urls = (body.candidates ?? [body])
        .map((candidate) => candidate.url)
        .filter((candidate): candidate is string => typeof candidate === 'string');
      if (urls.length > 0) return urls;
      problems.push(`${url}: no edge in the answer`);
    } catch (error) {
      problems.push(`${url}: ${(error as Error).message}`);
    }
  }
  throw new MeshError('unavailable', `locate found no edge (${problems.join('; ')})`);
}

function locateUrl(node: string, region: string | undefined): string {
  const base = httpBaseOf(node);
  const url = base.endsWith('/v1/locate') ? base : `${base}/v1/locate`;
  return region === undefined ? url : `${url}?region=${encodeURIComponent(region)}`;
}
