// startEdge: one edge node — the client WebSocket listener, sessions, interest table and fan-out,
// the uplink to its cores, drain, and the HTTP API, on one port.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { closeServer, createNodeServer, listen, urlOf } from '../shared/listen.js';
import {
  type Address,
  type ForwardConfig,
  type LimitsConfig,
  type TlsConfig,
  type TokenAuthConfig,
  type HooksConfig,
  type TunnelConfig,
  type UplinkConfig,
} from '../shared/topology.js';
import { BackendHooks } from './backend-hooks.js';
import { EdgePresence } from './presence.js';
import { EdgeTunnels } from './tunnels.js';
import { TunnelWebSockets, isTunnelPath } from './tunnel-websocket.js';
import { ClientListener } from './client-listener.js';
import { AddressShares } from './address-shares.js';
import { IpLimiter } from './ip-limiter.js';
import { StreamListener } from './stream-listener.js';
import { edgeHttpHandler } from './http-api.js';
import { EdgeMeshView } from './mesh-view.js';
import { defaultLocateConfig, type LocateConfig } from '../shared/locate.js';
import { isHealthy, meshUntil, type EdgeReport, type MeshSnapshot } from '../shared/mesh-status.js';
import { InterestTable } from './interest-table.js';
import { createEdgeMetrics } from './metrics.js';
import type { PeerEdge } from './redirect-target.js';
import { Drain } from './drain.js';
import type { ProxyRoute } from './proxy.js';
import { createTokenVerifier, openAccess } from './token-verifier.js';
import { guardUpgrade, pathOf, refuseUpgrade } from '../shared/http.js';
import { uplinkPath } from '../shared/protocol.js';
import { OriginPolicy } from '../shared/origins.js';
import { normaliseOrigin } from '../shared/topology-security.js';
import { PublishKeys } from '../shared/publish-keys.js';
import type { Uplink, CoreTarget } from './uplink.js';
import { createEdgeUplink, edgeUplinkSettings } from './edge-uplink.js';

export interface EdgeOptions {
  id: string;
  region: string;
  /** The cores to use, in failover order (primary first). */
  cores: readonly CoreTarget[];
  /** The other edges of the mesh, where a draining edge redirects its clients. */
  peers?: readonly PeerEdge[];
  /** Where to listen; default 127.0.0.1 on an ephemeral port. */
  listen?: Address;
  limits?: Partial<LimitsConfig>;
  uplink?: Partial<UplinkConfig>;
  /** Newest messages kept per topic for local replay. Default 256. */
  recentMessages?: number;
  /** Largest `POST /v1/publish` body. Default 1 MiB. */
  maxPublishBodyBytes?: number;
  /** Serve wss:// and https:// with this certificate and key (absolute PEM paths). Default: plain ws:// and http://. */
  tls?: TlsConfig;
  /** PEM file of the CA the uplink trusts for the cores' certificates (wss:// cores). Default: Node's built-in CAs. */
  ca?: string;
  /** How client tokens are checked; absent: clients need no token and may use every topic. */
  tokens?: TokenAuthConfig;
  /** HS256: the secret itself; absent, it is read from the variable `tokens.secretEnv` names. */
  tokenSecret?: string;
  /** Keys accepted for POST /v1/publish; absent: publishing over HTTP is open. */
  publishKeys?: readonly string[];
  /** Allowed browser origins (WebSocket upgrades and CORS); absent: every origin. The edge's own origin (from `url`) is always allowed. */
  origins?: readonly string[];
  /** How clients reach this edge (the topology's `url`). Default: where it listens. */
  url?: string;
  /** How /v1/locate ranks edges (neighbour regions, topology order, region header). */
  locate?: LocateConfig;
  /** The secret this edge proves to its cores when they check edge identity. Default: none (the hello carries no proof). */
  secret?: string;
  /** Which forward proxy (HTTP CONNECT) reaches a core or peer, if any. Default: none, the edge connects directly. */
  proxy?: ProxyRoute;
  /** The mesh's tunnels (docs/protocol.md §8): entered here by forward or WebSocket, dialled here when `at` is this edge. */
  tunnels?: readonly TunnelConfig[];
  /** TCP listeners here whose connections each become a stream to a tunnel. */
  forwards?: readonly ForwardConfig[];
  /** The backend asked before clients connect, subscribe or publish (docs/protocol.md §9); absent: none. */
  hooks?: HooksConfig;
  /** The key sent to the hooks; absent, it is read from the variable `hooks.keyEnv` names. */
  hookKey?: string;
  /**
   * A hub's core side: takes the uplinks (and tunnel links) of the edges behind it, which arrive on this port.
   * Absent: those paths are 404.
   */
  uplinkUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * Behind a hub in the same process or host (its workers): why the hub cannot reach its core now, if it cannot; then
   * /healthz answers 503 as for a lost uplink, so that nobody fails over to it. Default: no such hop.
   */
  upstreamProblem?: () => string | undefined;
  /** Serves /metrics from this instead of the edge's own registry (the workers of one edge answer for all). */
  metricsRegistry?: { metrics(): Promise<string>; contentType: string };
  /**
   * One worker of the edge `id` (relaymesh edge --workers): its uplink says hello under this id of its own, and its
   * /v1/mesh shows the edge as a whole, as the core has it. Default: none, the edge is one process.
   */
  workerId?: string;
  logger?: Logger;
}

export interface EdgeHandle {
  readonly id: string;
  /** Base URL of this edge: ws://host:port, wss:// with TLS (clients connect to `${url}/v1/ws`). */
  readonly url: string;
  readonly address: Address;
  /** Where each of `forwards` listens, in order. */
  readonly forwards: readonly Address[];
  readonly uplink: Uplink;
  readonly metrics: ReturnType<typeof createEdgeMetrics>;
  /** Client sessions open now, WebSocket and HTTP streaming. */
  readonly sessionCount: number;
  readonly draining: boolean;
  /** The mesh as this edge sees it: the core's last view, with this edge's own entry fresh. */
  mesh(): MeshSnapshot;
  /** Resolves with the first view of the mesh for which `predicate` holds (checked at every change); rejects after `timeoutMs`. */
  meshUntil(predicate: (snapshot: MeshSnapshot) => boolean, timeoutMs?: number): Promise<MeshSnapshot>;
  /** Resolves once the uplink to a core is up, and its tunnel link when the mesh has tunnels (default wait 10 s). */
  ready(timeoutMs?: number): Promise<void>;
  /**
   * Moves the clients away: `redirect` to the first healthy peer (same region first), a grace period for them to
   * go, then 4503 for the rest. The edge stays up, refusing new clients and reporting 503 on /healthz.
   */
  drain(): Promise<void>;
  /** Drains, then stops. */
  close(): Promise<void>;
}

export async function startEdge(options: EdgeOptions): Promise<EdgeHandle> {
  if (options.cores.length === 0) throw new Error(`edge ${options.id}: no cores to connect to`);
  const logger = (options.logger ?? pino()).child({ edge: options.id });
  const settings = edgeUplinkSettings(options);
  const { limits, ca } = settings;
  const uplinkConfig = settings.uplink;
  const metrics = createEdgeMetrics(options.id);
  const tunnelMetrics = metrics.tunnels;
  const uplink = createEdgeUplink(options, settings, logger, metrics);
  const interest = new InterestTable({
    uplink,
    logger,
    recentMessages: options.recentMessages ?? 256,
    recentMaxBytes: limits.recentCacheMaxBytes,
    holdMs: limits.publishHoldMs,
    maxTopics: limits.maxTopicsPerEdge,
  });
  const shares = new AddressShares(
    limits.maxTopicsPerAddress,
    limits.maxPublishBytesPerAddress,
    limits.newTopicsPerSecondPerAddress,
  );
  const presence = new EdgePresence(uplink, limits.publishHoldMs, () => interest.presentMembers());
  const hooks = options.hooks
    ? new BackendHooks({
        ...options.hooks,
        key: options.hookKey ?? (options.hooks.keyEnv ? process.env[options.hooks.keyEnv] : undefined),
        maxPending: limits.maxPendingHookCalls,
        maxPendingPerAddress: limits.maxPendingHookCallsPerAddress,
        metrics: metrics.hooks,
        logger,
      })
    : undefined;
  const sessionContext = {
    presence,
    hooks,
    edgeId: options.id,
    region: options.region,
    limits,
    interest,
    uplink,
    logger,
    shares,
    tokens: options.tokens ? createTokenVerifier(options.tokens, options.tokenSecret) : openAccess,
    onRefusedOp: (reason: 'rate_limited' | 'forbidden') => metrics.refusedOps.inc({ reason }),
    messageRate: { rate: limits.messagesPerSecond, burst: limits.messageBurst },
  };
  const perIp = new IpLimiter(limits.maxConnectionsPerIp);
  const clients = new ClientListener({ limits, metrics, logger, sessionContext, perIp });
  const streams = new StreamListener({
    limits,
    metrics,
    logger,
    sessionContext,
    transportOptions: clients.transportOptions,
    graceMs: limits.streamGraceMs,
    perIp,
  });
  const sessionCount = (): number => clients.sessionCount + streams.sessionCount;
  const tunnels = new EdgeTunnels({
    edgeId: options.id,
    tunnels: options.tunnels ?? [],
    openStream: (tunnel) => uplink.openStream(tunnel),
    maxStreams: limits.maxTunnelStreams,
    maxStreamsPerAddress: limits.maxTunnelStreamsPerAddress,
    connectTimeoutMs: limits.tunnelConnectTimeoutMs,
    metrics: tunnelMetrics,
    logger,
  });

  // How clients reach this edge: the topology's URL, else where it listens (known once it does).
  let publicUrl = options.url ?? '';
  const drain = new Drain({
    logger,
    peers: options.peers ?? [],
    region: options.region,
    peerTimeoutMs: uplinkConfig.heartbeatMs,
    ca,
    proxy: options.proxy,
    graceMs: limits.drainGraceMs,
    clients,
    streams,
    tunnels,
  });
  // What this edge tells its core, and what /v1/locate and /v1/mesh show of it.
  const report = (): EdgeReport => ({
    url: publicUrl,
    draining: drain.active,
    sessions: sessionCount(),
    capacity: limits.maxConnections,
    topics: interest.topicCount + interest.patternCount,
    deliveries: interest.deliveries,
    messagesIn: interest.messagesIn,
    published: uplink.published,
  });
  const view = new EdgeMeshView(
    () => {
      const own = report();
      return {
        id: options.id,
        region: options.region,
        core: uplink.connected ? uplink.coreId : '',
        healthy: isHealthy(own, uplink.connected),
        ...own,
      };
    },
    () => tunnels.status(),
    options.workerId !== undefined,
  );
  drain.onStart(() => {
    uplink.reportStatus();
    view.watch.notify();
  });
  uplink.listen({
    onConnected: () => {
      interest.onUplinkConnected();
      presence.onUplinkConnected();
      view.watch.notify();
    },
    onDisconnected: () => {
      interest.onUplinkDisconnected();
      view.watch.notify();
    },
    onMessage: (topic, epoch, offset, payload) => interest.onMessage(topic, epoch, offset, payload),
    digest: () => interest.digest(),
    onDigestMismatch: (coreSubscriptions) => interest.repair(coreSubscriptions),
    status: report,
    onMeshView: (cores, edges) => view.update(cores, edges),
    onStream: (stream) => tunnels.accept(stream),
    onPresenceEvent: (topic, joined, session, user, edge) => presence.onEvent(topic, joined, session, user, edge),
  });
  metrics.observe({
    sessions: () => [
      ...[...clients.sessionsByProtocol].map(([protocol, count]) => ({ transport: 'websocket', protocol, count })),
      { transport: 'http-stream', protocol: 'native', count: streams.sessionCount },
    ],
    subscriptions: () => interest.subscriptionCount,
    topics: () => interest.topicCount,
    patterns: () => interest.patternCount,
    uplinkConnected: () => uplink.connected,
    totals: () => ({
      deliveries: interest.deliveries,
      messagesIn: interest.messagesIn,
      published: uplink.published,
      wanBytesSaved: interest.wanBytesSaved,
      replays: interest.replays,
      uplinkReconnects: uplink.reconnects,
      uplinkMessages: uplink.messages,
    }),
  });

  /** Why a new client is refused now, if it is: counted under that reason. */
  const refusal = (): 'draining' | 'capacity' | undefined => {
    const reason = drain.active ? 'draining' : sessionCount() >= limits.maxConnections ? 'capacity' : undefined;
    if (reason) metrics.rejectedConnections.inc({ reason });
    return reason;
  };
  // The edge's own pages (the demo, anything it serves) may always connect back to it.
  const ownOrigin = options.url ? normaliseOrigin(options.url.replace(/^ws/, 'http')) : undefined;
  const origins = new OriginPolicy(options.origins && ownOrigin ? [...options.origins, ownOrigin] : options.origins);
  const server = createNodeServer(
    edgeHttpHandler({
      id: options.id,
      uplink,
      metrics,
      metricsRegistry: options.metricsRegistry ?? metrics.registry,
      upstreamProblem: options.upstreamProblem ?? (() => undefined),
      logger,
      draining: () => drain.active,
      refusal,
      maxBodyBytes: options.maxPublishBodyBytes ?? 1024 * 1024,
      maxMessageBytes: limits.maxMessageBytes,
      publishHoldMs: limits.publishHoldMs,
      publishKeys: new PublishKeys(options.publishKeys),
      shares,
      origins,
      streams,
      region: options.region,
      locate: options.locate ?? defaultLocateConfig,
      view,
      presence,
    }),
    options.tls,
    limits.headerTimeoutMs,
  );
  const tunnelSockets = new TunnelWebSockets({
    tunnels,
    tokens: sessionContext.tokens,
    origins,
    metrics: tunnelMetrics,
    heartbeatMs: limits.heartbeatMs,
    logger,
  });
  /** A hub's: the uplink of an edge behind it, within the same per-address bound as clients (its port is public). */
  const upgradeUplink = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!options.uplinkUpgrade) return refuseUpgrade(socket, 404);
    const ip = req.socket.remoteAddress ?? '';
    if (!perIp.acquire(ip)) return refuseUpgrade(socket, 429);
    socket.once('close', () => perIp.release(ip));
    options.uplinkUpgrade(req, socket, head);
  };
  server.on(
    'upgrade',
    guardUpgrade((req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Tunnels have limits and answers of their own, before the client sessions' ones.
      if (isTunnelPath(req)) return tunnelSockets.upgrade(req, socket, head);
      if (pathOf(req).startsWith(uplinkPath)) return upgradeUplink(req, socket, head);
      if (refusal()) return refuseUpgrade(socket, 503);
      // Cross-site WebSocket hijacking: a page from another origin gets no socket, before any upgrade.
      if (!origins.allows(req)) {
        metrics.rejectedConnections.inc({ reason: 'origin' });
        return refuseUpgrade(socket, 403);
      }
      clients.upgrade(req, socket, head);
    }, logger),
  );

  const address = await listen(server, options.listen ?? { host: '127.0.0.1', port: 0 });
  let forwards: readonly Address[];
  try {
    forwards = await tunnels.listen(options.forwards ?? []);
  } catch (error) {
    // Nothing is served yet: stop what already runs (heartbeats, the uplink), or it would keep the process alive.
    tunnelSockets.terminate();
    clients.terminate();
    streams.terminate();
    await uplink.close();
    await closeServer(server);
    throw error;
  }
  const url = urlOf('ws', address, options.tls !== undefined);
  publicUrl ||= url;
  logger.info(
    { address: `${address.host}:${address.port}`, cores: options.cores.map((core) => core.id) },
    'edge listening',
  );
  uplink.start();

  return {
    id: options.id,
    url,
    address,
    forwards,
    uplink,
    metrics,
    get sessionCount() {
      return sessionCount();
    },
    get draining() {
      return drain.active;
    },
    mesh: () => view.snapshot(),
    meshUntil: (predicate, timeoutMs) => meshUntil(view.watch, predicate, timeoutMs),
    async ready(timeoutMs = 10_000) {
      await uplink.whenConnected(timeoutMs);
      await uplink.whenTunnelLinkReady(timeoutMs);
    },
    drain: () => drain.run(),
    async close() {
      await drain.run();
      await tunnels.close();
      tunnelSockets.terminate();
      await uplink.close();
      clients.terminate();
      streams.terminate();
      await hooks?.close();
      await closeServer(server);
    },
  };
}
