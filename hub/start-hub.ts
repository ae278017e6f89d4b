// startHub: an edge that also takes the uplinks of other edges (`edges[].hub`). Its core side (core/ with a HubEngine)
// serves the edges behind it exactly as a core does, and holds the one uplink that carries their union of interest;
// its own clients are served by an edge (edge/) whose uplink is that core side, on loopback.

import type { Logger } from 'pino';
import { pino } from 'pino';
import { startCore, type CoreHandle, type KnownEdge } from '../core/start-core.js';
import { createEdgeUplink, edgeUplinkSettings } from '../edge/edge-uplink.js';
import { startEdge, type EdgeHandle, type EdgeOptions } from '../edge/start-edge.js';
import type { Uplink } from '../edge/uplink.js';
import { idleReport, type EdgeReport, type EdgeRow } from '../shared/mesh-status.js';
import { HubEngine } from './hub-engine.js';
import { closeCodes } from '../shared/errors.js';
import { refuseUpgrade } from '../shared/http.js';

export interface HubCoreOptions extends EdgeOptions {
  /** Edge id → the secret each edge behind this hub proves, as a core checks them. Default: none checked. */
  edgeSecrets?: ReadonlyMap<string, string>;
  /** The edges of the topology: only these ids may connect, with the client URL and region given here. */
  knownEdges?: ReadonlyMap<string, KnownEdge>;
}

export interface HubCore {
  readonly core: CoreHandle;
  readonly engine: HubEngine;
  /** The hub's own uplink, to its cores. */
  readonly uplink: Uplink;
  /** Dials the hub's cores (once what it reports of itself is known). */
  start(): void;
  close(): Promise<void>;
}

/**
 * The core side of a hub, listening on loopback for the edges in this process or host; `start` dials its cores. `report` is what the hub reports of itself upstream; with `hideEdges`, the edges connected to it
 * are parts of this one edge (its workers), not edges of the mesh.
 */
export async function startHubCore(
  options: HubCoreOptions,
  hub: {
    report(core: CoreHandle): EdgeReport;
    hideEdges: boolean;
    onUpstream?(connected: boolean): void;
  },
): Promise<HubCore> {
  const logger: Logger = (options.logger ?? pino()).child({ hub: options.id });
  const settings = edgeUplinkSettings(options);
  const { limits } = settings;
  const uplink = createEdgeUplink(options, settings, logger);
  let core: CoreHandle | undefined;
  const engine = new HubEngine({
    uplink,
    holdMs: limits.publishHoldMs,
    recentMessages: options.recentMessages ?? 256,
    recentMaxBytes: limits.recentCacheMaxBytes,
    logger,
    report: () => hub.report(core!),
    edgesBehind: hub.hideEdges ? undefined : (own: readonly EdgeRow[]) => own.filter((row) => row[0] !== options.id),
    onStream: (stream) => (core ? core.openedUpstream(stream) : stream.reset('refused')),
    onUpstream: hub.onUpstream,
    connectedHere: (edgeId) => core?.uplinks.has(edgeId) ?? false,
  });
  core = await startCore({
    id: options.id,
    region: options.region,
    listen: { host: '127.0.0.1', port: 0 },
    engine,
    logger,
    edgeSecrets: options.edgeSecrets,
    knownEdges: options.knownEdges,
    uplinkTimeoutMs: settings.uplink.heartbeatMs * 3,
    statusMs: settings.uplink.statusMs,
    maxUplinkQueueBytes: settings.uplink.maxQueueBytes,
    maxReplayBytes: limits.maxReplayBytes,
    maxMessageBytes: limits.maxMessageBytes,
    headerTimeoutMs: limits.headerTimeoutMs,
    tunnels: options.tunnels,
    tunnelLimits: limits,
    presenceGraceMs: limits.presenceGraceMs,
    presenceEventsMaxMembers: limits.presenceEventsMaxMembers,
    presenceEventsPerSecond: limits.presenceEventsPerSecond,
    hubSide: {
      hideEdges: hub.hideEdges,
      // The core upstream bounds this uplink's streams; the count here only bounds the edges behind.
      upstream: { streamCount: 0, openStream: (tunnel) => uplink.openStream(tunnel) },
    },
  });
  const started = core;
  return { core: started, engine, uplink, start: () => uplink.start(), close: () => started.close() };
}

export interface HubHandle extends EdgeHandle {
  /** The hub's core side: the edges behind it, by id, and its mesh view. */
  readonly hubCore: CoreHandle;
  /** The hub's own uplink, to its cores. */
  readonly upstream: Uplink;
}

export async function startHub(options: HubCoreOptions): Promise<HubHandle> {
  let url = options.url ?? '';
  const hub = await startHubCore(options, {
    // Its own clients' figures, as its edge reports them; before the first report, an idle edge's.
    report: (core) => core.uplinks.get(options.id)?.report ?? idleReport(url),
    hideEdges: false,
  });
  let draining = false;
  let edge: EdgeHandle;
  try {
    edge = await startEdge({
      ...options,
      cores: [{ id: options.id, url: hub.core.url }],
      // Behind its own core side, the hub's edge needs no proxy or CA to reach it.
      proxy: undefined,
      ca: undefined,
      // A draining hub takes no edges: they go on to the next of their cores.
      uplinkUpgrade: (req, socket, head) =>
        draining ? refuseUpgrade(socket, 503) : hub.core.upgrade(req, socket, head),
      upstreamProblem: () => hub.engine.status().unavailable,
    });
  } catch (error) {
    await hub.close();
    throw error;
  }
  // Only now is its URL known (where it listens, without one in the options): it goes in its first report.
  url ||= edge.url;
  hub.start();
  /** The edges behind it move to their next core at once (their clients keep their sockets), its own clients are redirected. */
  const drain = async (): Promise<void> => {
    draining = true;
    for (const peer of [...hub.core.uplinks.values()])
      if (peer.edgeId !== options.id) peer.close(closeCodes.draining, 'hub draining');
    await edge.drain();
  };
  return {
    id: edge.id,
    url: edge.url,
    address: edge.address,
    forwards: edge.forwards,
    uplink: edge.uplink,
    metrics: edge.metrics,
    get sessionCount() {
      return edge.sessionCount;
    },
    get draining() {
      return edge.draining;
    },
    mesh: () => edge.mesh(),
    meshUntil: (predicate, timeoutMs) => edge.meshUntil(predicate, timeoutMs),
    drain,
    hubCore: hub.core,
    upstream: hub.uplink,
    async ready(timeoutMs = 10_000) {
      await hub.uplink.whenConnected(timeoutMs);
      await edge.ready(timeoutMs);
    },
    async close() {
      await drain();
      await edge.close();
      await hub.close();
    },
  };
}
