// A mesh of tiers for S9, each node in a process of its own (bench/tier-node-process.ts): one core, edges and hubs
// that each name the node they connect to. Nodes start as soon as what they connect to is up.

import { forkBench, type BenchChild } from './child.js';
import type { TierNodeSpec, TierNodeStats, UplinkCount } from './tier-node-process.js';

export interface TierNode {
  id: string;
  role: 'core' | 'edge' | 'hub';
  /** The id of the core or hub it connects to (not for the core). */
  upstream?: string;
}

export interface TierMesh {
  /** ws://… of a node: clients of an edge or hub connect there. */
  url(id: string): string;
  /** What the core has sent on each uplink so far, by the id at the other end. */
  uplinks(): Promise<Record<string, UplinkCount>>;
  stop(): Promise<void>;
}

export async function startTierMesh(nodes: readonly TierNode[]): Promise<TierMesh> {
  const children = new Map<string, BenchChild>();
  const urls = new Map<string, string>();
  const stop = async (): Promise<void> => {
    await Promise.all([...children.values()].map((child) => child.end()));
  };
  try {
    let waiting = [...nodes];
    while (waiting.length) {
      const startable = waiting.filter((node) => !node.upstream || urls.has(node.upstream));
      if (!startable.length) throw new Error(`tiers: no upstream for ${waiting.map((node) => node.id).join(', ')}`);
      waiting = waiting.filter((node) => !startable.includes(node));
      await Promise.all(
        startable.map(async (node) => {
          const spec: TierNodeSpec =
            node.role === 'core'
              ? { role: 'core', id: node.id }
              : { role: node.role, id: node.id, upstream: { id: node.upstream!, url: urls.get(node.upstream!)! } };
          const child = forkBench('./tier-node-process.ts', [JSON.stringify(spec)]);
          children.set(node.id, child);
          urls.set(node.id, await child.next<string>('url'));
        }),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const core = nodes.find((node) => node.role === 'core')!;
  return {
    url: (id) => urls.get(id)!,
    uplinks: async () => (await children.get(core.id)!.ask<TierNodeStats>('stats', 'stats')).uplinks ?? {},
    stop,
  };
}
