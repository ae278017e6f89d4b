// Tiers in a topology (docs/protocol.md §6): which edges are hubs, and the check that following `cores` from any edge
// never comes back to it (a hub that reaches its core through itself would carry nothing anywhere).

import type { Checker } from './topology-schema.js';

interface TierNode {
  id: string;
  cores: readonly string[];
}

/** The ids of the entries with `hub: true` (the raw entries: a broken hub is still a hub for its edges' `cores`). */
export function hubIdsOf(entries: ReadonlyArray<{ value: unknown }>): string[] {
  return entries
    .map(({ value }) => value as { id?: unknown; hub?: unknown } | null)
    .filter((edge) => edge?.hub === true && typeof edge.id === 'string')
    .map((edge) => edge!.id as string);
}

/**
 * Reports each loop of `cores` references through hubs once, with the path around it (`a → b → a`). `edges` in file
 * order, undefined where an entry was broken.
 */
export function checkTierLoops(c: Checker, edges: ReadonlyArray<(TierNode & { hub?: boolean }) | undefined>): void {
  const hubs = new Map(edges.filter((edge) => edge?.hub).map((edge) => [edge!.id, edge!]));
  const done = new Set<string>();
  const reported = new Set<string>();
  const visit = (id: string, path: string[]): void => {
    const at = path.indexOf(id);
    if (at >= 0) {
      const loop = [...path.slice(at), id];
      const key = loop.slice(0, -1).sort().join(' ');
      if (reported.has(key)) return;
      reported.add(key);
      const index = edges.findIndex((edge) => edge?.id === loop[0]);
      return c.fail(`$.edges[${index}].cores`, `no loop through hubs (this one: ${loop.join(' → ')})`, loop[1]);
    }
    const hub = hubs.get(id);
    if (!hub || done.has(id)) return;
    for (const next of hub.cores) visit(next, [...path, id]);
    done.add(id);
  };
  for (const id of hubs.keys()) visit(id, []);
}

/**
 * Hub id → every edge that may reach it through `cores` (directly, or behind hubs that name it): the edges for which
 * it may relay publishes, rows of the mesh view and tunnel streams. A file with loops is refused before this is used.
 */
export function edgesBehindHubs(edges: readonly (TierNode & { hub?: boolean })[]): Map<string, Set<string>> {
  const hubIds = new Set(edges.filter((edge) => edge.hub).map((edge) => edge.id));
  const byId = new Map(edges.map((edge) => [edge.id, edge]));
  const behind = new Map([...hubIds].map((id) => [id, new Set<string>()]));
  for (const edge of edges) {
    const seen = new Set<string>();
    const climb = (id: string): void => {
      for (const next of byId.get(id)?.cores ?? []) {
        if (!hubIds.has(next) || seen.has(next)) continue;
        seen.add(next);
        behind.get(next)!.add(edge.id);
        climb(next);
      }
    };
    climb(edge.id);
  }
  return behind;
}
