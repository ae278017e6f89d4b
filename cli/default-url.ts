// Where `relaymesh pub` and `sub` go without --url: the first edge of ./topology.json, else the default local edge.

import { loadTopology } from '../shared/topology.js';

export async function defaultEdgeUrl(topologyFile = 'topology.json'): Promise<string> {
  try {
    const topology = await loadTopology(topologyFile);
    if (topology.edges[0]) return topology.edges[0].url;
  } catch {
    // No usable topology here: fall back to the default local mesh.
  }
  return 'ws://127.0.0.1:8401';
}
