// The order in which to offer edges to a client of a region: edges of that region first, then the rest,
// each group in the topology's order. Used where an edge is chosen for a client (drain redirects, locate).

export interface RankableEdge {
  id: string;
  region: string;
}

export function rankEdges<E extends RankableEdge>(edges: readonly E[], region: string | undefined): E[] {
  const local = edges.filter((edge) => edge.region === region);
  const remote = edges.filter((edge) => edge.region !== region);
  return [...local, ...remote];
}
