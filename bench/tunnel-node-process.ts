// A relaymesh node for the tunnel benchmark, in a process of its own: the core (it dials the tunnels' services) or
// the entry edge (a TCP forward to each tunnel, its uplink to the core's URL, possibly through a WAN link). It tells
// the parent its URL and forwards over IPC and answers `stats` like the other benchmark servers.

import { pino } from 'pino';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import type { Address, TunnelConfig } from '../shared/topology.js';
import { answerStats } from './process-stats.js';

export type TunnelNodeSpec =
  { role: 'core'; tunnels: TunnelConfig[] } | { role: 'edge'; tunnels: TunnelConfig[]; coreUrl: string };

export interface TunnelNodeReady {
  url: string;
  /** The edge's forward to each tunnel, in the order of `tunnels`. */
  forwards: Address[];
}

/** Far above what the benchmark opens: it measures the streams, not the limits that guard against abuse. */
const manyStreams = 100_000;

const spec = JSON.parse(process.argv[2]!) as TunnelNodeSpec;
const logger = pino({ level: 'warn' });
const anyPort = { host: '127.0.0.1', port: 0 };
let ready: TunnelNodeReady;
if (spec.role === 'core') {
  const core = await startCore({
    id: 'bench-core',
    logger,
    tunnels: spec.tunnels,
    tunnelLimits: { maxTunnelStreams: manyStreams, maxTunnelStreamsPerAddress: manyStreams },
  });
  ready = { url: core.url, forwards: [] };
} else {
  const edge = await startEdge({
    id: 'bench-entry',
    region: 'bench',
    cores: [{ id: 'bench-core', url: spec.coreUrl }],
    logger,
    tunnels: spec.tunnels,
    forwards: spec.tunnels.map((tunnel) => ({ listen: anyPort, tunnel: tunnel.name })),
    // The benchmark's publisher sends far more than a client may by default, and every stream comes from one address.
    limits: {
      messagesPerSecond: 1_000_000,
      messageBurst: 1_000_000,
      maxTunnelStreams: manyStreams,
      maxTunnelStreamsPerAddress: manyStreams,
    },
  });
  await edge.ready(30_000);
  ready = { url: edge.url, forwards: [...edge.forwards] };
}

answerStats();
process.send!({ ready });
process.on('disconnect', () => process.exit(0));
