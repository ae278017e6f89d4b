// The one place that turns a topology into the options of its nodes (startCore, startEdge): `relaymesh up`,
// `relaymesh core`, `relaymesh edge` and the tests that run a topology all go through it, so a security setting
// cannot hold in one and be forgotten in another.

import type { Logger } from 'pino';
import type { CoreOptions, KnownEdge } from '../core/start-core.js';
import { RedisEngine } from '../core/redis-engine.js';
import type { EdgeOptions } from '../edge/start-edge.js';
import type { HubCoreOptions } from '../hub/start-hub.js';
import type { ProxyRoute, ProxySettings } from '../edge/proxy.js';
import { getProxyForUrl } from 'proxy-from-env';
import type { EdgeConfig, Environment, Topology } from '../shared/topology.js';
import { edgesBehindHubs } from '../shared/topology-tiers.js';

/** `env` holds the secrets the topology names (default: this process's environment). */
export function coreOptionsOf(
  topology: Topology,
  coreId: string,
  logger: Logger,
  env: Environment = process.env,
): CoreOptions {
  const core = nodeOf(topology.cores, coreId, 'core', topology);
  return {
    id: core.id,
    listen: core.listen,
    region: core.region,
    url: core.url,
    tls: core.tls,
    logger,
    history: topology.history,
    maxMessageBytes: topology.limits.maxMessageBytes,
    headerTimeoutMs: topology.limits.headerTimeoutMs,
    uplinkTimeoutMs: topology.uplink.heartbeatMs * 3,
    statusMs: topology.uplink.statusMs,
    maxUplinkQueueBytes: topology.uplink.maxQueueBytes,
    maxReplayBytes: topology.limits.maxReplayBytes,
    locate: topology.locate,
    publishKeys: publishKeysOf(topology, env),
    edgeSecrets: edgeSecretsOf(topology, env),
    knownEdges: knownEdgesOf(topology),
    engine: engineOf(topology, core.id, logger, env),
    tunnels: topology.tunnels,
    forwards: core.forwards,
    tunnelLimits: topology.limits,
    presenceGraceMs: topology.limits.presenceGraceMs,
    presenceEventsMaxMembers: topology.limits.presenceEventsMaxMembers,
    presenceEventsPerSecond: topology.limits.presenceEventsPerSecond,
  };
}

export function edgeOptionsOf(
  topology: Topology,
  edgeId: string,
  logger: Logger,
  env: Environment = process.env,
): EdgeOptions {
  const edge = nodeOf(topology.edges, edgeId, 'edge', topology);
  // Cores and hubs alike: a hub takes uplinks at its client URL.
  const upstream = [...topology.cores, ...topology.edges.filter((node) => node.hub)];
  const cores = edge.cores.map((id) => {
    const node = nodeOf(upstream, id, 'core or hub', topology);
    return { id: node.id, url: node.url };
  });
  const peers = topology.edges.filter((peer) => peer.id !== edgeId).map(({ id, url, region }) => ({ id, url, region }));
  return {
    id: edge.id,
    region: edge.region,
    listen: edge.listen,
    url: edge.url,
    tls: edge.tls,
    ca: edge.ca,
    logger,
    cores,
    peers,
    limits: topology.limits,
    uplink: topology.uplink,
    locate: topology.locate,
    tokens: topology.auth.tokens,
    ...(topology.auth.tokens?.secretEnv ? { tokenSecret: env[topology.auth.tokens.secretEnv] } : {}),
    publishKeys: publishKeysOf(topology, env),
    origins: edge.origins,
    secret: secretOf(edge, env),
    proxy: proxyRouteOf(edge, env),
    tunnels: topology.tunnels,
    forwards: edge.forwards,
    ...(topology.hooks
      ? { hooks: topology.hooks, hookKey: topology.hooks.keyEnv ? env[topology.hooks.keyEnv] : undefined }
      : {}),
  };
}

/** A hub's: an edge's options, and the identities of the edges that may connect to it, as a core checks them. */
export function hubOptionsOf(
  topology: Topology,
  edgeId: string,
  logger: Logger,
  env: Environment = process.env,
): HubCoreOptions {
  return {
    ...edgeOptionsOf(topology, edgeId, logger, env),
    edgeSecrets: edgeSecretsOf(topology, env),
    knownEdges: knownEdgesOf(topology),
  };
}

/**
 * How an edge reaches its cores and peers: through its `proxy` when the topology names one (with the credentials
 * `proxyAuthEnv` holds), else as command-line tools do, through HTTPS_PROXY (wss:// and https:// targets) or
 * HTTP_PROXY (ws://, http://) unless NO_PROXY names the target; these are read from the process's environment.
 */
function proxyRouteOf(edge: EdgeConfig, env: Environment): ProxyRoute | undefined {
  if (edge.proxy) {
    const settings: ProxySettings = {
      url: edge.proxy,
      ...(edge.proxyAuthEnv ? { credentials: env[edge.proxyAuthEnv] } : {}),
    };
    return () => settings;
  }
  return (target) => {
    const fromEnv = getProxyForUrl(target.replace(/^ws/, 'http'));
    if (!fromEnv) return undefined;
    const url = new URL(fromEnv);
    const credentials = url.username
      ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      : undefined;
    url.username = '';
    url.password = '';
    return { url: url.origin, ...(credentials ? { credentials } : {}) };
  };
}

function nodeOf<T extends { id: string }>(nodes: readonly T[], id: string, role: string, topology: Topology): T {
  const node = nodes.find((candidate) => candidate.id === id);
  if (!node)
    throw new Error(
      `${topology.file || 'topology'}: no ${role} with id "${id}" (known: ${nodes.map((n) => n.id).join(', ')})`,
    );
  return node;
}

/** The keys for POST /v1/publish, /v1/mesh and /metrics on every node; undefined when the topology names none. */
function publishKeysOf(topology: Topology, env: Environment): string[] | undefined {
  const name = topology.auth.publishKeysEnv;
  return name
    ? (env[name] ?? '')
        .split(',')
        .map((key) => key.trim())
        .filter(Boolean)
    : undefined;
}

function secretOf(edge: EdgeConfig, env: Environment): string | undefined {
  return edge.secretEnv ? env[edge.secretEnv] || undefined : undefined;
}

/** Edge id → secret for every core (each core knows every edge); undefined when the topology gives no edge a secret. */
function edgeSecretsOf(topology: Topology, env: Environment): Map<string, string> | undefined {
  if (!topology.edges.some((edge) => edge.secretEnv)) return undefined;
  const secrets = new Map<string, string>();
  for (const edge of topology.edges) {
    const secret = secretOf(edge, env);
    if (secret) secrets.set(edge.id, secret);
  }
  return secrets;
}

/** The edges a core accepts uplinks from, with the client URL and region the file gives them. */
function knownEdgesOf(topology: Topology): Map<string, KnownEdge> {
  const behind = edgesBehindHubs(topology.edges);
  return new Map(
    topology.edges.map((edge) => [
      edge.id,
      { url: edge.url, region: edge.region, ...(edge.hub ? { behind: behind.get(edge.id) } : {}) },
    ]),
  );
}

/** The engine a core of this topology uses; undefined for the default in-memory one, which startCore builds. */
function engineOf(topology: Topology, coreId: string, logger: Logger, env: Environment): RedisEngine | undefined {
  const engine = topology.engine;
  if (engine.type !== 'redis') return undefined;
  const url = new URL(engine.url);
  if (engine.username) url.username = engine.username;
  if (engine.passwordEnv) url.password = env[engine.passwordEnv] ?? '';
  // Each core holds its own connections; Redis being away does not stop it from starting (it answers 503 until Redis is back).
  return new RedisEngine({
    url: url.toString(),
    keyPrefix: engine.keyPrefix,
    ...topology.history,
    logger: logger.child({ core: coreId, engine: 'redis' }),
  });
}
