// Builds a mesh (one core, edges) in the test process on ephemeral ports, optionally with a fault proxy
// on each uplink, and closes it all in teardown.

import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { startCore, type CoreHandle, type CoreOptions } from '../../core/start-core.js';
import { startEdge, type EdgeHandle, type EdgeOptions } from '../../edge/start-edge.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export const silentLogger = pino({ level: 'silent' });

/**
 * What startMesh gives its edges unless a test says otherwise: no uplink pings and no periodic status reports during
 * a test, as they would add uplink bytes that tests count (a dead core is then noticed only by a closed socket).
 */
export const quietUplink = { heartbeatMs: 600_000, statusMs: 600_000 };

/** An uplink that notices a dead core within a few hundred ms and retries at once: for failover tests. */
export const fastUplink = { heartbeatMs: 200, reconnectBaseMs: 10, reconnectMaxMs: 100, failbackMs: 100 };

export interface MeshOptions {
  edges?: Array<{ id: string; region: string }>;
  core?: Partial<CoreOptions>;
  edge?: Partial<EdgeOptions>;
  /** Put a fault proxy between each edge and the core. */
  proxied?: boolean;
}

export interface Mesh {
  core: CoreHandle;
  edges: EdgeHandle[];
  /** The uplink proxies, one per edge, when `proxied`. */
  proxies: TcpProxy[];
  /** http://host:port of a node, for the HTTP API. */
  http(node: { url: string }): string;
}

export async function startMesh(t: ExecutionContext, options: MeshOptions = {}): Promise<Mesh> {
  const core = await startCore({ id: 'central', logger: silentLogger, ...options.core });
  t.teardown(() => core.close());
  const edges: EdgeHandle[] = [];
  const proxies: TcpProxy[] = [];
  for (const { id, region } of options.edges ?? [
    { id: 'eu-1', region: 'eu' },
    { id: 'us-1', region: 'us' },
  ]) {
    let coreUrl = core.url;
    if (options.proxied) {
      const proxy = await startTcpProxy({ target: core.address });
      t.teardown(() => proxy.close());
      proxies.push(proxy);
      coreUrl = proxy.url;
    }
    const edge = await startEdge({
      id,
      region,
      cores: [{ id: core.id, url: coreUrl }],
      logger: silentLogger,
      uplink: quietUplink,
      ...options.edge,
    });
    t.teardown(() => edge.close());
    edges.push(edge);
  }
  await Promise.all(edges.map((edge) => edge.ready()));
  return { core, edges, proxies, http: (node) => node.url.replace(/^ws/, 'http') };
}

/**
 * One in-memory core and one edge on a fast uplink, for tests of a core that restarts: `restartCore` closes it and
 * starts a new one on the same address (a fresh epoch), closed in teardown.
 */
export async function restartableCore(
  t: ExecutionContext,
): Promise<{ core: CoreHandle; edge: EdgeHandle; restartCore(): Promise<CoreHandle> }> {
  const core = await startCore({ id: 'central', logger: silentLogger });
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: 'central', url: core.url }],
    uplink: fastUplink,
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();
  return {
    core,
    edge,
    async restartCore() {
      await core.close();
      const second = await startCore({ id: 'central', listen: core.address, logger: silentLogger });
      t.teardown(() => second.close());
      return second;
    },
  };
}
