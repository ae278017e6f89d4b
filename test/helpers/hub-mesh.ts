// A region behind a hub, in the test process: a core, a hub whose uplink goes through a counting TCP proxy (the WAN),
// and edges behind the hub that fail over straight to the core; all closed in teardown.

import type { ExecutionContext } from 'ava';
import { startCore, type CoreHandle, type CoreOptions } from '../../core/start-core.js';
import { startEdge, type EdgeHandle, type EdgeOptions } from '../../edge/start-edge.js';
import { startHub, type HubCoreOptions, type HubHandle } from '../../hub/start-hub.js';
import { quietUplink, silentLogger } from './mesh.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface HubMesh {
  core: CoreHandle;
  hub: HubHandle;
  /** Between the hub and the core: what crosses the WAN. */
  wan: TcpProxy;
  /** Behind the hub, with the core as their second choice. */
  edges: EdgeHandle[];
}

export interface HubMeshOptions {
  edges?: number;
  core?: Partial<CoreOptions>;
  /** For the hub and the edges behind it. */
  edge?: Partial<EdgeOptions>;
}

export async function startHubMesh(t: ExecutionContext, options: HubMeshOptions = {}): Promise<HubMesh> {
  const core = await startCore({ id: 'central', logger: silentLogger, ...options.core });
  t.teardown(() => core.close());
  const wan = await startTcpProxy({ target: core.address });
  t.teardown(() => wan.close());
  const hub = await hubOn(t, { id: 'central', url: wan.url }, 'eu-hub', options.edge);
  const edges = await Promise.all(
    Array.from({ length: options.edges ?? 3 }, (_, index) => behind(t, hub, `eu-${index + 1}`, core, options.edge)),
  );
  await Promise.all(edges.map((edge) => edge.ready()));
  return { core, hub, wan, edges };
}

/** A hub `id` whose uplink goes to `upstream` (a core, or another hub), ready; closed in teardown. */
export async function hubOn(
  t: ExecutionContext,
  upstream: { url: string; id: string },
  id: string,
  options: Partial<HubCoreOptions> = {},
): Promise<HubHandle> {
  const hub = await startHub({
    id,
    region: 'eu',
    cores: [{ id: upstream.id, url: upstream.url }],
    logger: silentLogger,
    uplink: quietUplink,
    ...options,
  });
  t.teardown(() => hub.close());
  await hub.ready();
  return hub;
}

/** An edge behind `hub`, with `fallback` (the core) second. */
export async function behind(
  t: ExecutionContext,
  hub: { url: string; id: string },
  id: string,
  fallback?: { url: string; id: string },
  options: Partial<EdgeOptions> = {},
): Promise<EdgeHandle> {
  const edge = await startEdge({
    id,
    region: 'eu',
    cores: [{ id: hub.id, url: hub.url }, ...(fallback ? [{ id: fallback.id, url: fallback.url }] : [])],
    logger: silentLogger,
    uplink: quietUplink,
    ...options,
  });
  t.teardown(() => edge.close());
  return edge;
}
