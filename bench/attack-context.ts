// What every attack of `relaymesh bench attack` is given: where the mesh is, when to stop, where to count, and the
// source addresses that spread attackers over several client IPs (the edge's limits are per address).

import { setTimeout as sleep } from 'node:timers/promises';
import type { Counts } from './attack-counts.js';

export const attackNames = ['replay-amplification', 'stalled-uplink', 'unread-streams', 'topic-filling'] as const;
export type AttackName = (typeof attackNames)[number];

/** What the parent passes to the attacker process (as JSON). */
export interface AttackerOptions {
  attack: AttackName;
  /** The core's base URL (ws://host:port): its HTTP API and its uplink endpoint. */
  coreUrl: string;
  /** The edge's base URL (ws://host:port). */
  edgeUrl: string;
  /** The attacker stops by itself after this long even if never told to. */
  maxMs: number;
}

export interface AttackContext extends AttackerOptions {
  /** The epoch of the replayed topic's history (replay-amplification), given with the order to start. */
  epoch: string;
  signal: AbortSignal;
  counts: Counts;
}

/** One attack: runs until the signal aborts, closes everything it opened, then resolves. */
export type Attack = (context: AttackContext) => Promise<void>;

/** 127.0.0.2–.9: loopback addresses Linux answers on without setup. */
export const sourceAddresses: readonly string[] = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

export function sourceAddress(index: number): string {
  return sourceAddresses[index % sourceAddresses.length]!;
}

/** Waits `ms`, or less when the signal aborts first (never rejects). */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await sleep(ms, undefined, { signal }).catch(() => {});
}

/** HTTP base of a node (http://host:port) from its ws:// URL. */
export function httpOf(url: string): string {
  return url.replace(/^ws/, 'http');
}
