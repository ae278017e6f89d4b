// Starts nodes of a topology in this process, prints where each listens, and stops them cleanly on SIGINT/SIGTERM.

import type { Logger } from 'pino';
import { RedisEngine } from '../core/redis-engine.js';
import { createLogger, type LogFormat } from './logger.js';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import type { Address, CoreConfig, EdgeConfig, ForwardConfig, Topology } from '../shared/topology.js';
import { fail, loadTopologyOrExit } from './exit.js';
import { forwardBeyondLoopback, isLoopback } from './loopback.js';
import { coreOptionsOf, edgeOptionsOf, hubOptionsOf } from './node-options.js';
import { startHub } from '../hub/start-hub.js';

export interface RunSelection {
  topologyFile: string;
  logLevel: string;
  logFormat: LogFormat;
  /** Only these node ids; every node when undefined. */
  only?: { role: 'core' | 'edge'; id: string };
}

export async function runMesh(selection: RunSelection): Promise<void> {
  const topology = await loadTopologyOrExit(selection.topologyFile, selection.only);
  const logger = createLogger(selection.logLevel, selection.logFormat);
  const cores = topology.cores.filter(
    (core) => !selection.only || (selection.only.role === 'core' && selection.only.id === core.id),
  );
  const edges = topology.edges.filter(
    (edge) => !selection.only || (selection.only.role === 'edge' && selection.only.id === edge.id),
  );
  if (selection.only && cores.length + edges.length === 0) {
    const known = (selection.only.role === 'core' ? topology.cores : topology.edges).map((node) => node.id).join(', ');
    fail(`${topology.file}: no ${selection.only.role} with id "${selection.only.id}" (known: ${known})`);
  }

  const started: Array<CoreHandle | EdgeHandle> = [];
  const stopAll = async (): Promise<void> => {
    // Edges first, so their clients are told before the cores go.
    for (const node of [...started].reverse()) await node.close();
  };
  try {
    for (const core of cores) {
      const options = coreOptionsOf(topology, core.id, logger);
      const handle = await startCore(options);
      started.push(handle);
      if (options.engine instanceof RedisEngine) await waitForRedis(options.engine, core.id, logger);
      process.stdout.write(
        `core ${core.id} (${core.region}) listening on ${handle.url}, uplinks at ${handle.url}/v1/uplink\n`,
      );
      printForwards(options.forwards ?? [], handle.forwards);
    }
    // Hubs first, so the edges behind them find them up (and, stopping in reverse, go before them).
    for (const edge of [...edges].sort((a, b) => Number(b.hub === true) - Number(a.hub === true))) {
      const handle = edge.hub
        ? await startHub(hubOptionsOf(topology, edge.id, logger))
        : await startEdge(edgeOptionsOf(topology, edge.id, logger));
      started.push(handle);
      process.stdout.write(
        `edge ${edge.id} (${edge.region}) listening on ${handle.url}, clients at ${handle.url}/v1/ws` +
          `${edge.hub ? `, uplinks of the edges behind it at ${handle.url}/v1/uplink` : ''}\n`,
      );
      printForwards(edge.forwards ?? [], handle.forwards);
    }
  } catch (error) {
    await stopAll();
    fail(`cannot start: ${(error as Error).message}`);
  }
  warnOpenSettings(topology, cores, edges, logger);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    stopAll().then(
      () => process.exit(0),
      (error: Error) => fail(`error while stopping: ${error.message}`),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // SIGUSR2 drains without stopping: clients move to other edges, this one stays up for maintenance.
  process.on('SIGUSR2', () => {
    for (const node of started) if ('drain' in node) void node.drain();
  });
}

/** Gives Redis a moment before the core is announced; without it the core still runs, answering 503 until Redis is back. */
async function waitForRedis(engine: RedisEngine, coreId: string, logger: Logger): Promise<void> {
  try {
    await engine.whenAvailable(3000);
  } catch (error) {
    logger.error(
      { core: coreId, err: (error as Error).message },
      'redis is unavailable: this core answers 503 and refuses publishes until it is back',
    );
  }
}

/** Topologies without protection run, but say so loudly. */
/** Warnings about what this process runs (`cores`, `edges`) that anyone may use, or that proves nothing. */
function warnOpenSettings(
  topology: Topology,
  cores: readonly CoreConfig[],
  edges: readonly EdgeConfig[],
  logger: Logger,
): void {
  const runsEdges = edges.length > 0;
  // The topology check refuses client tokens or publish keys without edge secrets, so an open uplink means no auth at all.
  if (!topology.edges.some((edge) => edge.secretEnv))
    logger.warn(
      'OPEN: edges prove no identity on their uplinks (edges[].secretEnv): anyone who reaches a core can connect as an edge, read every topic and publish anywhere',
    );
  if (runsEdges && !topology.auth.tokens && !topology.hooks?.connect)
    logger.warn(
      'OPEN: no client authentication is configured (auth.tokens or hooks.connect): any client may connect and use every topic',
    );
  if (!topology.auth.publishKeysEnv)
    logger.warn(
      'OPEN: no publish keys are configured (auth.publishKeysEnv): anyone who reaches a node may POST /v1/publish and read /v1/mesh, /v1/presence and /metrics',
    );
  if (edges.some((edge) => !edge.origins))
    logger.warn('OPEN: edges without an origins allowlist accept browser clients from every origin');
  if (runsEdges && topology.tunnels.length > 0 && !topology.auth.tokens)
    logger.warn(
      'OPEN: without client authentication (auth.tokens) anyone who reaches an edge may open every tunnel at /v1/tunnel/<name>',
    );
  for (const node of [...cores, ...edges])
    for (const forward of node.forwards ?? [])
      if (!isLoopback(forward.listen.host))
        logger.warn(
          { node: node.id, tunnel: forward.tunnel, listen: `${forward.listen.host}:${forward.listen.port}` },
          forwardBeyondLoopback,
        );
}

/** One line per forward, under its node's: where to point the programs that use the tunnel. */
function printForwards(forwards: readonly ForwardConfig[], bound: readonly Address[]): void {
  forwards.forEach((forward, index) => {
    const address = bound[index]!;
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    process.stdout.write(`  tunnel ${forward.tunnel}: forward at ${host}:${address.port}\n`);
  });
}
