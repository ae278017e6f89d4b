// S9, tiers: what a hub saves on the WAN (copies of a message toward a region of 3 edges, without and with it), what
// each hub hop adds to latency, and what `relaymesh edge --workers 2` gives over one process, with how node:cluster
// spreads connections over its workers. relaymesh only: the others have neither hubs nor workers.

import { loadavg } from 'node:os';
import { tiersHops, type TierHopRow, type TierHopSizes } from '../tiers-hops.js';
import type { TierPrimaryRow } from '../tiers-primary.js';
import { tiersWan, type TierWanRow, type TierWanSizes } from '../tiers-wan.js';
import {
  tiersSpread,
  tiersWorkers,
  type TierSpreadRow,
  type TierWorkersRow,
  type TierWorkersSizes,
} from '../tiers-workers.js';
import type { MachineLoadRow } from './presence.js';

export interface TiersSizes {
  wan: TierWanSizes;
  hops: TierHopSizes;
  workers: TierWorkersSizes;
  /** Also spread the workers' clients with NODE_CLUSTER_SCHED_POLICY=none (a run of its own). */
  spread: boolean;
}

export type TiersRow = TierWanRow | TierHopRow | TierWorkersRow | TierSpreadRow | TierPrimaryRow | MachineLoadRow;

export async function runTiers(size: TiersSizes, progress: (line: string) => void): Promise<TiersRow[]> {
  const loadBefore = loadavg()[0]!;
  const rows: TiersRow[] = [...(await tiersWan(size.wan, progress))];
  rows.push(...(await tiersHops(size.hops, progress)));
  rows.push(...(await tiersWorkers(size.workers, progress)));
  if (size.spread) rows.push(await tiersSpread(size.workers.subscribers, progress));
  rows.push({ kind: 'machine', loadBefore, loadAfter: loadavg()[0]! });
  return rows;
}
