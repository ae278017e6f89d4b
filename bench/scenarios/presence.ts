// S8, presence and backend hooks (docs/protocol.md §9): whether presence costs the fan-out anything when nobody
// watches, how much join / leave churn the mesh takes with 10,000 members on a topic and how fast `presence` answers
// there, and what a backend hook adds to connect, sub and pub. relaymesh only: the others have neither.

import { loadavg } from 'node:os';
import {
  presenceChurn,
  type PresenceChurnRow,
  type PresenceChurnSizes,
  type PresenceQueryRow,
} from '../presence-churn.js';
import { presenceFanout, type PresenceFanoutRow } from '../presence-fanout.js';
import { presenceHooks, type HookRow, type HookSizes } from '../presence-hooks.js';
import type { FanoutCase } from './fanout.js';

export interface PresenceSizes {
  /** Subscribers must be over the event cap (1,000 members), so that switching the watchers sends no join / leave. */
  fanout: { subscribers: number; watchers: number; cases: FanoutCase[]; rounds: number };
  churn: PresenceChurnSizes;
  hooks: HookSizes;
}

/** Anything else running on the machine shares its 2 cores with the run: the report says how busy it was. */
export interface MachineLoadRow {
  kind: 'machine';
  loadBefore: number;
  loadAfter: number;
}

export type PresenceRow = PresenceFanoutRow | PresenceChurnRow | PresenceQueryRow | HookRow | MachineLoadRow;

export async function runPresence(size: PresenceSizes, progress: (line: string) => void): Promise<PresenceRow[]> {
  const loadBefore = loadavg()[0]!;
  const { subscribers, watchers, cases, rounds } = size.fanout;
  const rows: PresenceRow[] = [...(await presenceFanout(subscribers, watchers, cases, rounds, progress))];
  rows.push(...(await presenceChurn(size.churn, progress)));
  rows.push(...(await presenceHooks(size.hooks, progress)));
  rows.push({ kind: 'machine', loadBefore, loadAfter: loadavg()[0]! });
  return rows;
}
