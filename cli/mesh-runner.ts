// Starts nodes of a topology in this process, prints where each listens, and stops them cleanly on SIGINT/SIGTERM.

import type { Logger } from 'pino';
import type { Engine } from '../core/engine.js';
import { RedisEngine } from '../core/redis-engine.js';
import { createLogger, type LogFormat } from './logger.js';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import type { EdgeConfig, Topology } from '../shared/topology.js';
import { fail, loadTopologyOrExit } from './exit.js';

export interface RunSelection {
  topologyFile: string;
  logLevel: string;
  logFormat: LogFormat;
  /** Only these node ids; every node when undefined. */
  only?: { role: 'core' | 'edge'; id: string };
}

export async function runMesh(selection: RunSelection): Promise<void> {
  const topology = await loadTopologyOrExit(selection.topologyFile);
  const logger = createLogger(selection.logLevel, selection.logFormat);
  const cores = topology.cores.filter((core) => !selection.only || (selection.only.role === 'core' && selection.only.id === core.id));
  const edges = topology.edges.filter((edge) => !selection.only || (selection.only.role === 'edge' && selection.only.id === edge.id));
  if (selection.only && cores.length + edges.length === 0) {
    const known = (selection.only.role === 'core' ? topology.cores : topology.edges).map((node) => node.id).join(', ');
    fail(`${topology.file}: no ${selection.only.role} with id "${selection.only.id}" (known: ${known})`);
  }

  const edgeSecrets = edgeSecretsOf(topology);
  const started: Array<CoreHandle | EdgeHandle> = [];
  const stopAll = async (): Promise<void> => {
    // Edges first, so their clients are told before the cores go.
    for (const node of [...started].reverse()) await node.close();
  };
  try {
    for (const core of cores) {
      const engine = engineOf(topology, core.id, logger);
      const handle = await startCore({
        id: core.id, listen: core.listen, region: core.region, history: topology.history, logger, tls: core.tls,
        maxMessageBytes: topology.limits.maxMessageBytes, uplinkTimeoutMs: topology.uplink.heartbeatMs * 3,
        edgeSecrets, publishKeys: publishKeysOf(topology), headerTimeoutMs: topology.limits.headerTimeoutMs,
        url: core.url, locate: topology.locate, statusMs: topology.uplink.statusMs,
        engine,
      });
      started.push(handle);
      if (engine instanceof RedisEngine) await waitForRedis(engine, core.id, logger);
      process.stdout.write(`core ${core.id} (${core.region}) listening on ${handle.url}, uplinks at ${handle.url}/v1/uplink\n`);
    }
    for (const edge of edges) {
      const handle = await startEdge(edgeOptions(topology, edge.id, logger));
      started.push(handle);
      process.stdout.write(`edge ${edge.id} (${edge.region}) listening on ${handle.url}, clients at ${handle.url}/v1/ws\n`);
    }
  } catch (error) {
    await stopAll();
    fail(`cannot start: ${(error as Error).message}`);
  }
  warnOpenSettings(topology, edges.length > 0, logger);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    stopAll().then(() => process.exit(0), (error: Error) => fail(`error while stopping: ${error.message}`));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // SIGUSR2 drains without stopping: clients move to other edges, this one stays up for maintenance.
  process.on('SIGUSR2', () => {
    for (const node of started) if ('drain' in node) void node.drain();
  });
}

/** The engine a core of this topology uses; undefined for the default in-memory one, which startCore builds. */
function engineOf(topology: Topology, coreId: string, logger: Logger): Engine | undefined {
  const engine = topology.engine;
  if (engine.type !== 'redis') return undefined;
  const url = new URL(engine.url);
  if (engine.username) url.username = engine.username;
  if (engine.passwordEnv) url.password = process.env[engine.passwordEnv] ?? '';
  // Each core holds its own connections; Redis being away does not stop it from starting (it answers 503 until Redis is back).
  return new RedisEngine({
    url: url.toString(), keyPrefix: engine.keyPrefix, ...topology.history, logger: logger.child({ core: coreId, engine: 'redis' }),
  });
}

/** Gives Redis a moment before the core is announced; without it the core still runs, answering 503 until Redis is back. */
async function waitForRedis(engine: RedisEngine, coreId: string, logger: Logger): Promise<void> {
  try {
    await engine.whenAvailable(3000);
  } catch (error) {
    logger.error({ core: coreId, err: (error as Error).message }, 'redis is unavailable: this core answers 503 and refuses publishes until it is back');
  }
}

function publishKeysOf(topology: Topology): string[] | undefined {
  const name = topology.auth.publishKeysEnv;
  return name ? (process.env[name] ?? '').split(',').map((key) => key.trim()).filter(Boolean) : undefined;
}

/** Topologies without protection run, but say so loudly. */
function warnOpenSettings(topology: Topology, runsEdges: boolean, logger: Logger): void {
  if (runsEdges && !topology.auth.tokens) logger.warn('OPEN: no client authentication is configured (auth.tokens): any client may connect and use every topic');
  if (!topology.auth.publishKeysEnv) logger.warn('OPEN: no publish keys are configured (auth.publishKeysEnv): anyone who reaches a node may POST /v1/publish');
  if (runsEdges && topology.edges.some((edge) => !edge.origins)) logger.warn('OPEN: edges without an origins allowlist accept browser clients from every origin');
}

/** The secret an edge proves to its cores, from the environment variable its `secretEnv` names. */
function secretOf(edge: EdgeConfig): string | undefined {
  return edge.secretEnv ? process.env[edge.secretEnv] || undefined : undefined;
}

/** Edge id → secret for every core (each core knows every edge); undefined when the topology gives no edge a secret. */
function edgeSecretsOf(topology: Topology): Map<string, string> | undefined {
  if (!topology.edges.some((edge) => edge.secretEnv)) return undefined;
  const secrets = new Map<string, string>();
  for (const edge of topology.edges) {
    const secret = secretOf(edge);
    if (secret) secrets.set(edge.id, secret);
  }
  return secrets;
}

function edgeOptions(topology: Topology, id: string, logger: Logger) {
  const edge = topology.edges.find((candidate) => candidate.id === id)!;
  const cores = edge.cores.map((coreId) => {
    const core = topology.cores.find((candidate) => candidate.id === coreId)!;
    return { id: core.id, url: core.url };
  });
  const peers = topology.edges.filter((peer) => peer.id !== id).map(({ id: peerId, url, region }) => ({ id: peerId, url, region }));
  return {
    id: edge.id, region: edge.region, listen: edge.listen, cores, peers, limits: topology.limits, uplink: topology.uplink, logger,
    url: edge.url, tls: edge.tls, ca: edge.ca, tokens: topology.auth.tokens, origins: edge.origins,
    secret: secretOf(edge), locate: topology.locate,
  };
}
