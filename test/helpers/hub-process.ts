// A region whose hub runs as a process of its own (`relaymesh edge --id eu-hub` on a topology naming it `hub: true`),
// so that a test can kill it for real: a core in the test process, a counting TCP proxy as the hub's WAN link to it
// (the core's topology `url`), and edges in the test process behind the hub with the core as their fallback, bound to
// the addresses the topology gives them. Everything is stopped in teardown.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { startCore, type CoreHandle } from '../../core/start-core.js';
import { startEdge, type EdgeHandle } from '../../edge/start-edge.js';
import type { LimitsConfig, UplinkConfig } from '../../shared/topology.js';
import { freePorts, startCli, tempDir, untilStatus, type Cli } from './cli.js';
import { silentLogger } from './mesh.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { within } from './within.js';

export interface HubProcessRegion {
  core: CoreHandle;
  /** Between the hub process and the core: what crosses the WAN. */
  wan: TcpProxy;
  /** The hub's process. */
  hub: Cli;
  /** ws://host:port of the hub: its clients and the uplinks of the edges behind it. */
  hubUrl: string;
  /** Behind the hub (its id first in their `cores`), with the core second; in the order of `edges`. */
  edges: EdgeHandle[];
  topologyFile: string;
}

export interface HubProcessOptions {
  /** Ids of the edges behind the hub; default eu-1, eu-2, eu-3. */
  edges?: readonly string[];
  /** For the whole topology (the hub) and the edges in the test process. */
  limits?: Partial<LimitsConfig>;
  uplink?: Partial<UplinkConfig>;
}

const HUB_ID = 'eu-hub';
const CORE_ID = 'central';
const REGION = 'eu';
/** Generous: a loaded machine. */
const START_MS = 60_000;

/** Runs `fn` once, however many times the result is called (teardown may come after an early close). */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

async function kill(cli: Cli): Promise<void> {
  if (cli.process.exitCode === null && cli.process.signalCode === null) cli.process.kill('SIGKILL');
  await cli.exited.catch(() => undefined);
}

const addressInUse = (error: unknown): boolean => /EADDRINUSE/.test(String((error as Error)?.message ?? error));

export async function startHubProcess(t: ExecutionContext, options: HubProcessOptions = {}): Promise<HubProcessRegion> {
  const edgeIds = options.edges ?? ['eu-1', 'eu-2', 'eu-3'];
  const core = await startCore({ id: CORE_ID, region: REGION, logger: silentLogger });
  t.teardown(() => core.close());
  const wan = await startTcpProxy({ target: core.address });
  t.teardown(() => wan.close());
  const dir = await tempDir(t);

  let lastFailure = '';
  // The ports were free a moment ago; one taken meanwhile by another process means another try with new ones.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [hubPort, ...edgePorts] = await freePorts(1 + edgeIds.length);
    const hubUrl = `ws://127.0.0.1:${hubPort}`;
    const topology = {
      cores: [
        // The hub dials the core's `url`: the WAN proxy, not the core itself.
        { id: CORE_ID, listen: `${core.address.host}:${core.address.port}`, url: wan.url, region: REGION },
      ],
      edges: [
        {
          id: HUB_ID,
          hub: true,
          listen: `127.0.0.1:${hubPort}`,
          url: hubUrl,
          region: REGION,
          cores: [CORE_ID],
        },
        ...edgeIds.map((id, index) => ({
          id,
          listen: `127.0.0.1:${edgePorts[index]}`,
          url: `ws://127.0.0.1:${edgePorts[index]}`,
          region: REGION,
          cores: [HUB_ID, CORE_ID],
        })),
      ],
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.uplink ? { uplink: options.uplink } : {}),
    };
    const topologyFile = join(dir, `topology-${attempt}.json`);
    await writeFile(topologyFile, JSON.stringify(topology, null, 2));

    const hub = startCli(t, ['edge', '--id', HUB_ID, '--topology', topologyFile, '--log-level', 'warn']);
    try {
      await hub.waitFor(
        () => new RegExp(`^edge ${HUB_ID} .* listening on `, 'm').test(hub.stdout),
        'its listening line',
      );
    } catch (error) {
      lastFailure = (error as Error).message;
      await kill(hub);
      if (addressInUse(hub.stderr)) continue;
      throw error;
    }
    // 200 once the hub's own uplink to the core is up (a hub that cannot reach its core says 503).
    await untilStatus(`http://127.0.0.1:${hubPort}/healthz`, 200);

    const edges: EdgeHandle[] = [];
    const closers: Array<() => Promise<void>> = [];
    try {
      for (const [index, id] of edgeIds.entries()) {
        const edge = await startEdge({
          id,
          region: REGION,
          listen: { host: '127.0.0.1', port: edgePorts[index]! },
          url: `ws://127.0.0.1:${edgePorts[index]}`,
          cores: [
            { id: HUB_ID, url: hubUrl },
            { id: CORE_ID, url: core.url },
          ],
          logger: silentLogger,
          ...(options.limits ? { limits: options.limits } : {}),
          ...(options.uplink ? { uplink: options.uplink } : {}),
        });
        const close = once(() => edge.close());
        closers.push(close);
        t.teardown(close);
        edges.push(edge);
      }
    } catch (error) {
      lastFailure = (error as Error).message;
      await Promise.all(closers.map((close) => close()));
      await kill(hub);
      if (addressInUse(error)) continue;
      throw error;
    }
    await within(
      Promise.all(edges.map((edge) => edge.ready(START_MS))),
      'the edges behind the hub connected',
      START_MS + 1000,
    );
    return { core, wan, hub, hubUrl, edges, topologyFile };
  }
  throw new Error(`could not start the hub on free ports: ${lastFailure}`);
}
