// WAN links (bench/wan-link.ts) in a process of their own, so their timers keep time while the nodes and the load
// generator are busy. Takes `[{ target, oneWayMs }, …]` as JSON and tells the parent where each listens.

import type { Address } from '../shared/topology.js';
import { startWanLink } from './wan-link.js';

export interface WanLinkSpec {
  target: Address;
  oneWayMs: number;
}

const specs = JSON.parse(process.argv[2]!) as WanLinkSpec[];
const links = await Promise.all(specs.map((spec) => startWanLink(spec.target, spec.oneWayMs)));
process.send!({ links: links.map((link) => link.address) });
process.on('disconnect', () => process.exit(0));
