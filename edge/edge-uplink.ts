// The uplink an edge's options describe: its cores, identity, CA, proxy and limits. An edge builds one for itself;
// a hub (hub/start-hub.ts) builds the one that carries the edges behind it.

import type { Logger } from 'pino';
import { readPem } from '../shared/listen.js';
import { defaultLimits, defaultUplink, type LimitsConfig, type UplinkConfig } from '../shared/topology.js';
import type { EdgeMetrics } from './metrics.js';
import type { EdgeOptions } from './start-edge.js';
import { Uplink } from './uplink.js';

export interface EdgeUplinkSettings {
  limits: LimitsConfig;
  uplink: UplinkConfig;
  /** The CA (PEM) trusted for wss:// cores, read once. */
  ca: Buffer | undefined;
}

/** The options' limits and uplink settings with their defaults, and the CA file read (a bad path fails the start). */
export function edgeUplinkSettings(options: Pick<EdgeOptions, 'limits' | 'uplink' | 'ca'>): EdgeUplinkSettings {
  return {
    limits: { ...defaultLimits, ...options.limits },
    uplink: { ...defaultUplink, ...options.uplink },
    ca: options.ca === undefined ? undefined : readPem(options.ca, 'CA'),
  };
}

export function createEdgeUplink(
  options: EdgeOptions,
  settings: EdgeUplinkSettings,
  logger: Logger,
  metrics?: EdgeMetrics,
): Uplink {
  return new Uplink({
    ...settings.uplink,
    edgeId: options.workerId ?? options.id,
    region: options.region,
    cores: options.cores,
    maxHeldPublishes: settings.limits.maxHeldPublishes,
    ca: settings.ca,
    secret: options.secret,
    proxy: options.proxy,
    logger,
    tunnels: (options.tunnels ?? []).length > 0,
    tunnelBufferMaxBytes: settings.limits.tunnelBufferMaxBytes,
    streamCounters: metrics?.tunnels,
    onTraffic: metrics
      ? (direction, bytes, frames) => {
          metrics.uplinkBytes.inc({ direction }, bytes);
          metrics.uplinkFrames.inc({ direction }, frames);
        }
      : undefined,
  });
}
