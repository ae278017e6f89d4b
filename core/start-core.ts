// startCore: one core node — the uplink listener, the router, the engine, and the HTTP API on one port.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { PublishKeys } from '../shared/publish-keys.js';
import { pino, type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { closeCodes } from '../shared/errors.js';
import { guardUpgrade, pathOf, refuseUpgrade, sendJson } from '../shared/http.js';
import { defaultLocateConfig, type LocateConfig } from '../shared/locate.js';
import { meshUntil, type EdgeReport, type MeshSnapshot } from '../shared/mesh-status.js';
import { tunnelLinkPath, uplinkPath, type Position } from '../shared/protocol.js';
import type {
  Address,
  ForwardConfig,
  HistoryConfig,
  LimitsConfig,
  TlsConfig,
  TunnelConfig,
} from '../shared/topology.js';
import { TunnelRelay, type StreamCarrier } from './tunnel-relay.js';
import { defaultHistory, defaultLimits, defaultUplink } from '../shared/topology.js';
import { createNodeServer, listen, closeServer, urlOf } from '../shared/listen.js';
import type { Engine } from './engine.js';
import { coreHttpHandler } from './http-api.js';
import { MemoryEngine } from './memory-engine.js';
import { createCoreMetrics } from './metrics.js';
import { CoreMeshView } from './mesh-view.js';
import { PresenceBook } from './presence-book.js';
import { Router } from './router.js';
import { UplinkPeer, type KnownEdge, type UplinkRefusal } from './uplink-peer.js';
import type { MuxStream } from '../shared/stream-mux.js';

export type { KnownEdge } from './uplink-peer.js';

export interface CoreOptions {
  id: string;
  /** Where to listen; default 127.0.0.1 on an ephemeral port. */
  listen?: Address;
  region?: string;
  /** History bounds of the default in-memory engine; each one not given takes the topology's default. */
  history?: Partial<HistoryConfig>;
  /** Defaults to a MemoryEngine with `history`. Closed with the core. */
  engine?: Engine;
  /** Largest uplink WebSocket message accepted, in bytes (a batch of frames). Default 64 MiB. */
  maxUplinkMessageBytes?: number;
  /** Largest `POST /v1/publish` body. Default 1 MiB. */
  maxPublishBodyBytes?: number;
  /** The core pings each uplink at this period and drops one silent for a whole period. Default 6 s. */
  uplinkTimeoutMs?: number;
  /** Publish ids remembered to answer resent publishes without sequencing them twice. Default 100,000. */
  recentPublishIds?: number;
  /** The HTTP request (or upgrade) head must arrive within this. Default 10 s. */
  headerTimeoutMs?: number;
  /** Keys accepted for POST /v1/publish (Authorization: Bearer); absent: publishing over HTTP is open. */
  publishKeys?: readonly string[];
  /** Largest message payload accepted over HTTP. Default 128 KiB, as on edges. */
  maxMessageBytes?: number;
  /**
   * Edge id → the secret that edge proves. When set, the core challenges every uplink and refuses (4401) an edge it
   * does not know or whose proof fails. Read at every hello, so a secret may be rotated in place. Default: none, any
   * edge may connect under any id.
   */
  edgeSecrets?: ReadonlyMap<string, string>;
  /**
   * The edges of the topology: only these ids may open an uplink, and their client URL and region are taken from
   * here, never from what an edge reports (so a stranger cannot steer /v1/locate). Default: any id, as reported.
   */
  knownEdges?: ReadonlyMap<string, KnownEdge>;
  /** Serve wss:// and https:// with this certificate and key (absolute PEM paths). Default: plain ws:// and http://. */
  tls?: TlsConfig;
  /** How edges reach this core (the topology's `url`), as /v1/mesh shows it. Default: where it listens. */
  url?: string;
  /** How /v1/locate ranks edges (neighbour regions, topology order, region header). */
  locate?: LocateConfig;
  /** How often the core passes the mesh's load and counters to its edges. Default 2 s. */
  statusMs?: number;
  /** Bytes waiting for one edge (queued and in its socket) beyond which the edge is dropped as too slow. Default 32 MiB. */
  maxUplinkQueueBytes?: number;
  /** Payload bytes one replay may carry; a resume needing more is answered `recovered: false`. Default 4 MiB. */
  maxReplayBytes?: number;
  /** The mesh's tunnels (docs/protocol.md §8): dialled here when they have no `at`, else relayed to that edge. */
  tunnels?: readonly TunnelConfig[];
  /** TCP listeners here whose connections each become a stream to a tunnel's `at` edge. */
  forwards?: readonly ForwardConfig[];
  /** Tunnel limits; each one not given takes the topology's default. */
  tunnelLimits?: Partial<TunnelLimits>;
  /** How long an edge's presence members stay after its uplink is lost, for it to come back. Default 30 s. */
  presenceGraceMs?: number;
  /** Above this many members a topic's joins and leaves are not announced (`presence` still counts). Default 1,000. */
  presenceEventsMaxMembers?: number;
  /** Joins and leaves announced per topic per second (burst: twice that); beyond, coalesced per session. Default 100. */
  presenceEventsPerSecond?: number;
  /**
   * This core is the core side of a hub (hub/start-hub.ts): it is not listed as a core in the mesh view, and with
   * `hideEdges` (the workers of one edge) neither are the edges connected to it. Tunnel streams it does not end go up
   * the hub's uplink, `upstream`.
   */
  hubSide?: { hideEdges: boolean; upstream: StreamCarrier };
  logger?: Logger;
}

export type TunnelLimits = Pick<
  LimitsConfig,
  'maxTunnelStreams' | 'maxTunnelStreamsPerAddress' | 'tunnelBufferMaxBytes' | 'tunnelConnectTimeoutMs'
>;

export interface CoreHandle {
  readonly id: string;
  /** The uplink URL edges dial: ws://host:port (wss:// with TLS) */
  readonly url: string;
  readonly address: Address;
  /** Where each of `forwards` listens, in order. */
  readonly forwards: readonly Address[];
  readonly engine: Engine;
  readonly metrics: ReturnType<typeof createCoreMetrics>;
  /** Edges connected now, by id. */
  readonly uplinks: ReadonlyMap<string, UplinkPeer>;
  /** Each connected edge's tunnel link (when the mesh has tunnels), by edge id. */
  readonly tunnelLinks: ReadonlyMap<string, UplinkPeer>;
  /** The mesh as this core sees it: itself and its edges with their last reports. */
  mesh(): MeshSnapshot;
  /** Resolves with the first view of the mesh for which `predicate` holds (checked at every change); rejects after `timeoutMs`. */
  meshUntil(predicate: (snapshot: MeshSnapshot) => boolean, timeoutMs?: number): Promise<MeshSnapshot>;
  /** Takes an HTTP upgrade for the uplink or tunnel link paths arriving elsewhere (a hub's client port). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** On a hub: the core upstream opened a tunnel stream toward an edge behind it. */
  openedUpstream(stream: MuxStream): void;
  close(): Promise<void>;
}

export async function startCore(options: CoreOptions): Promise<CoreHandle> {
  const logger = (options.logger ?? pino()).child({ core: options.id });
  const engine: Engine = options.engine ?? new MemoryEngine({ ...defaultHistory, ...options.history });
  // The router tells the engine which topics and patterns this core's edges want, so a shared engine follows only those.
  const router = new Router<UplinkPeer>(engine);
  const uplinks = new Map<string, UplinkPeer>();
  /** Each edge's tunnel link, beside its uplink: the streams to and from that edge. */
  const tunnelLinks = new Map<string, UplinkPeer>();
  // Plain numbers beside the Prometheus counters: the mesh view reads them synchronously.
  const counts = { published: 0, routed: 0 };
  // How edges reach this core: the topology's URL, else where it listens (known once it does).
  let publicUrl = options.url ?? '';
  const view = new CoreMeshView({
    core: () => ({ id: options.id, region: options.region ?? '', url: publicUrl, uplinks: uplinks.size, ...counts }),
    members: () => uplinks.values(),
    exchange: (own, ttlMs) => engine.exchangeMesh(own, ttlMs),
    periodMs: options.statusMs ?? defaultUplink.statusMs,
    ...(options.hubSide ? { hidden: options.hubSide.hideEdges ? 'all' : 'self' } : {}),
  });
  const presence = new PresenceBook({
    graceMs: options.presenceGraceMs ?? defaultLimits.presenceGraceMs,
    maxEventMembers: options.presenceEventsMaxMembers ?? defaultLimits.presenceEventsMaxMembers,
    eventsPerSecond: options.presenceEventsPerSecond ?? defaultLimits.presenceEventsPerSecond,
    share: engine.presenceShare?.(options.id),
  });
  const metrics = createCoreMetrics(
    options.id,
    () => view.edges(),
    () => engine.status(),
    () => presence.memberCount,
  );
  const tunnelMetrics = metrics.tunnels;
  const tunnelLimits: TunnelLimits = { ...defaultLimits, ...options.tunnelLimits };
  const relay = new TunnelRelay({
    tunnels: options.tunnels ?? [],
    carrierOf: (edgeId) =>
      tunnelLinks.get(edgeId) ??
      (options.hubSide?.hideEdges && edgeId === options.id ? leastBusy(tunnelLinks.values()) : undefined) ??
      tunnelLinks.get(hubCarrying(edgeId) ?? ''),
    upstream: options.hubSide?.upstream,
    maxStreamsPerEdge: tunnelLimits.maxTunnelStreams,
    maxStreamsPerAddress: tunnelLimits.maxTunnelStreamsPerAddress,
    connectTimeoutMs: tunnelLimits.tunnelConnectTimeoutMs,
    metrics: tunnelMetrics,
    logger,
  });
  view.showTunnels(() => relay.status());
  engine.onMessage((message) => {
    const routed = router.route(message);
    counts.published++;
    counts.routed += routed;
    metrics.published.inc();
    metrics.routed.inc(routed);
  });

  /** The hub, among this core's edges, behind which `edgeId` is (as the hubs list the edges behind them). */
  const hubCarrying = (edgeId: string): string | undefined => {
    for (const peer of uplinks.values()) if (peer.relayed.some((row) => row[0] === edgeId)) return peer.edgeId;
    return undefined;
  };
  const peers = new Set<UplinkPeer>();
  // The shared store lost its data (new epoch): edges resubscribe from their positions, so their clients get `reset`
  // instead of new offsets that they would take for old ones.
  engine.onReset(() => {
    for (const peer of [...uplinks.values()]) peer.close(closeCodes.goingAway, 'stream history lost; resubscribe');
  });
  const peerContext = {
    coreId: options.id,
    engine,
    router,
    metrics,
    logger,
    recentPublishes: new LRUCache<string, Promise<Position>>({ max: options.recentPublishIds ?? 100_000 }),
    edgeSecrets: options.edgeSecrets,
    knownEdges: options.knownEdges,
    maxQueueBytes: options.maxUplinkQueueBytes ?? defaultUplink.maxQueueBytes,
    maxReplayBytes: options.maxReplayBytes ?? defaultLimits.maxReplayBytes,
    tunnelBufferMaxBytes: tunnelLimits.tunnelBufferMaxBytes,
    streamCounters: tunnelMetrics,
    presence,
    onStream: (peer: UplinkPeer, stream: MuxStream) => relay.opened(peer, peer.edgeId, stream),
    admit(peer: UplinkPeer, proven: boolean): UplinkRefusal | undefined {
      if (peer.role === 'tunnels') {
        // Only beside the uplink of the same edge process: whoever holds that uplink proved (or is) the edge.
        if (uplinks.get(peer.edgeId)?.instance !== peer.instance) return 'no_uplink';
        tunnelLinks.get(peer.edgeId)?.close(closeCodes.goingAway, 'replaced by a newer tunnel link');
        tunnelLinks.set(peer.edgeId, peer);
        return undefined;
      }
      const previous = uplinks.get(peer.edgeId);
      if (previous && previous !== peer) {
        // A proven edge holds one uplink: its new one means the old is dead even if its socket has not noticed yet.
        // Unproven, anyone could claim the id: only the same edge process (its secret instance) may take its place.
        if (!proven && previous.instance !== peer.instance) return 'id_in_use';
        previous.close(closeCodes.goingAway, 'replaced by a newer uplink');
      }
      uplinks.set(peer.edgeId, peer);
      presence.edgeConnected(peer.edgeId);
      metrics.uplinks.set(uplinks.size);
      logger.info({ edge: peer.edgeId, region: peer.region }, 'edge connected');
      return undefined;
    },
    onReport(peer: UplinkPeer, previous: EdgeReport | undefined): void {
      if (uplinks.get(peer.edgeId) === peer) view.changed(previous, peer.report);
    },
    onClosed(peer: UplinkPeer): void {
      peers.delete(peer);
      presence.unwatchAll(peer);
      if (peer.role === 'tunnels') {
        if (tunnelLinks.get(peer.edgeId) === peer) tunnelLinks.delete(peer.edgeId);
        return;
      }
      // The tunnel link lives with its uplink.
      const link = tunnelLinks.get(peer.edgeId);
      if (link?.instance === peer.instance) link.close(closeCodes.goingAway, 'the uplink closed');
      if (uplinks.get(peer.edgeId) !== peer) return;
      uplinks.delete(peer.edgeId);
      presence.edgeLost(peer.edgeId);
      metrics.uplinks.set(uplinks.size);
      view.changed(peer.report, undefined);
      logger.info({ edge: peer.edgeId }, 'edge disconnected');
    },
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxUplinkMessageBytes ?? 64 * 1024 * 1024,
    perMessageDeflate: false,
  });
  // A hub's core side takes uplinks only: its clients, publishes and metrics are the hub's edge's, with their keys.
  const uplinksOnly = (_req: IncomingMessage, res: ServerResponse): void =>
    sendJson(res, 404, { error: { code: 'bad_request', message: 'uplinks only' } });
  const server = createNodeServer(
    options.hubSide
      ? uplinksOnly
      : coreHttpHandler({
          id: options.id,
          engine,
          metrics,
          logger,
          maxBodyBytes: options.maxPublishBodyBytes ?? 1024 * 1024,
          maxMessageBytes: options.maxMessageBytes ?? defaultLimits.maxMessageBytes,
          publishKeys: new PublishKeys(options.publishKeys),
          region: options.region ?? '',
          locate: options.locate ?? defaultLocateConfig,
          view,
          presence,
        }),
    options.tls,
    options.headerTimeoutMs,
  );
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = pathOf(req);
    if (path !== uplinkPath && path !== tunnelLinkPath) {
      return refuseUpgrade(socket, 404);
    }
    const role = path === uplinkPath ? 'uplink' : 'tunnels';
    wss.handleUpgrade(req, socket, head, (ws) => {
      peers.add(new UplinkPeer(ws, peerContext, req.socket.remoteAddress, role));
    });
  };
  server.on('upgrade', guardUpgrade(upgrade, logger));
  // The core pings each uplink once a period; one that answered nothing for a whole period is dead, and its interest goes.
  const liveness = setInterval(
    () => {
      for (const peer of [...peers]) peer.sweep();
    },
    options.uplinkTimeoutMs ?? defaultUplink.heartbeatMs * 3,
  );

  const address = await listen(server, options.listen ?? { host: '127.0.0.1', port: 0 });
  let forwards: readonly Address[];
  try {
    forwards = await relay.listen(options.forwards ?? []);
  } catch (error) {
    clearInterval(liveness);
    view.close();
    await closeServer(server);
    await engine.close();
    throw error;
  }
  const url = urlOf('ws', address, options.tls !== undefined);
  publicUrl ||= url;
  logger.info({ address: `${address.host}:${address.port}` }, 'core listening');

  return {
    id: options.id,
    url,
    address,
    forwards,
    engine,
    metrics,
    uplinks,
    tunnelLinks,
    mesh: () => view.snapshot(),
    meshUntil: (predicate, timeoutMs) => meshUntil(view.watch, predicate, timeoutMs),
    upgrade,
    openedUpstream: (stream) => relay.openedUpstream(stream),
    async close() {
      clearInterval(liveness);
      view.close();
      presence.close();
      await relay.close();
      for (const peer of [...uplinks.values()]) peer.close(closeCodes.draining, 'core shutting down');
      for (const ws of wss.clients) ws.terminate();
      await closeServer(server);
      await engine.close();
      wss.close();
    },
  };
}

/** An edge's workers all dial its tunnels: a stream `at` the edge goes to the one carrying fewest. */
function leastBusy(links: Iterable<UplinkPeer>): UplinkPeer | undefined {
  let best: UplinkPeer | undefined;
  for (const link of links) if (!best || link.streamCount < best.streamCount) best = link;
  return best;
}
