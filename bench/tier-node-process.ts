// A relaymesh node for S9 (tiers) in a process of its own: a core, an edge, or a hub (an edge that takes the uplinks
// of other edges), given the id and URL of what it connects to. It tells the parent its URL and answers `stats`, the
// core with what it sent on each uplink, by the id of the edge or hub at the other end.

import { pino } from 'pino';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { startHub } from '../hub/start-hub.js';
import { freePort } from './free-port.js';
import { processStats } from './process-stats.js';
import type { ServerStats } from './server-process.js';

export type TierNodeSpec =
  { role: 'core'; id: string } | { role: 'edge' | 'hub'; id: string; upstream: { id: string; url: string } };

export interface UplinkCount {
  /** Payload bytes of the WebSocket messages sent on that uplink. */
  bytes: number;
  frames: number;
}

export interface TierNodeStats extends ServerStats {
  /** The core's uplinks, by the id of the node at the other end. */
  uplinks?: Record<string, UplinkCount>;
}

const spec = JSON.parse(process.argv[2]!) as TierNodeSpec;
const logger = pino({ level: 'warn' });
// The benchmark's one publisher sends far more than a client may by default, and every client comes from few addresses.
const limits = { messagesPerSecond: 1_000_000, messageBurst: 1_000_000, maxConnectionsPerIp: 1_000_000 };
let core: CoreHandle | undefined;
let url: string;
if (spec.role === 'core') {
  core = await startCore({ id: spec.id, region: 'bench', logger });
  url = core.url;
} else if (spec.role === 'hub') {
  // A hub given no `url` reports an empty one until its own edge has reported, which its core refuses (dropping the
  // uplink once): it gets a port and the URL there, as the topology gives every hub.
  const port = await freePort();
  const hub = await startHub({
    id: spec.id,
    region: 'bench',
    cores: [spec.upstream],
    logger,
    limits,
    listen: { host: '127.0.0.1', port },
    url: `ws://127.0.0.1:${port}`,
  });
  await hub.ready(30_000);
  url = hub.url;
} else {
  const edge = await startEdge({ id: spec.id, region: 'bench', cores: [spec.upstream], logger, limits });
  await edge.ready(30_000);
  url = edge.url;
}

async function uplinks(handle: CoreHandle): Promise<Record<string, UplinkCount>> {
  const counts: Record<string, UplinkCount> = {};
  const add = async (metric: typeof handle.metrics.uplinkBytesSent, field: keyof UplinkCount): Promise<void> => {
    for (const { labels, value } of (await metric.get()).values) {
      const edge = String(labels.edge);
      counts[edge] ??= { bytes: 0, frames: 0 };
      counts[edge][field] += value;
    }
  };
  await add(handle.metrics.uplinkBytesSent, 'bytes');
  await add(handle.metrics.uplinkFramesSent, 'frames');
  return counts;
}

process.on('message', (message) => {
  if (message !== 'stats') return;
  const stats: TierNodeStats = processStats(false);
  void (core ? uplinks(core) : Promise.resolve(undefined)).then((counts) =>
    process.send!({ stats: counts ? { ...stats, uplinks: counts } : stats }),
  );
});
process.send!({ url });
process.on('disconnect', () => process.exit(0));
