// Where commands go without --url: `pub` and `sub` to the first edge of ./topology.json, `status` to its first core
// (it sees all its edges); without a usable topology, to the default local mesh.

import { loadTopology } from '../shared/topology.js';

const localMesh = { edges: 'ws://127.0.0.1:8401', cores: 'ws://127.0.0.1:7400' };

export async function defaultUrl(role: 'edges' | 'cores', topologyFile = 'topology.json'): Promise<string> {
  try {
    const topology = await loadTopology(topologyFile);
    if (topology[role][0]) return topology[role][0].url;
  } catch {
    // No usable topology here: fall back to the default local mesh.
  }
  return localMesh[role];
}
