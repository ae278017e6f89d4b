// A mesh carrying tunnels, in the test process on ephemeral ports: one core, a branch edge `eu-1` (the `at` of the
// tunnels that name it) and an entry edge `us-1` with a TCP forward to every tunnel; the core forwards to every
// tunnel an edge dials. Optionally a fault proxy on each uplink. Closed in teardown.

import { connect, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import { startCore, type CoreHandle, type CoreOptions } from '../../core/start-core.js';
import { startEdge, type EdgeHandle, type EdgeOptions } from '../../edge/start-edge.js';
import type { Address, TunnelConfig } from '../../shared/topology.js';
import { quietUplink, silentLogger } from './mesh.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface TunnelMeshOptions {
  /** Tunnel name → service address and, for one dialled by the branch edge, `at: 'eu-1'`. */
  tunnels: Record<string, { connect: Address; at?: 'eu-1' }>;
  core?: Partial<CoreOptions>;
  /** For both edges. */
  edge?: Partial<EdgeOptions>;
  /** Put a fault proxy on each uplink: `proxies.branch` and `proxies.entry`. */
  proxied?: boolean;
}

export interface TunnelMesh {
  core: CoreHandle;
  /** eu-1: dials the tunnels `at` it. */
  branch: EdgeHandle;
  /** us-1: has a forward to every tunnel. */
  entry: EdgeHandle;
  proxies: { branch?: TcpProxy; entry?: TcpProxy };
  tunnels: readonly TunnelConfig[];
  /** Where the entry edge's forward to `tunnel` listens. */
  forward(tunnel: string): Address;
  /** Where the core's forward to `tunnel` listens (tunnels `at` an edge only). */
  coreForward(tunnel: string): Address;
  /** ws://…/v1/tunnel/<name> on an edge (default the entry edge). */
  tunnelUrl(tunnel: string, edge?: EdgeHandle): string;
}

const anyPort = { host: '127.0.0.1', port: 0 };

export async function startTunnelMesh(t: ExecutionContext, options: TunnelMeshOptions): Promise<TunnelMesh> {
  const tunnels: TunnelConfig[] = Object.entries(options.tunnels).map(([name, tunnel]) => ({ name, ...tunnel }));
  const branchTunnels = tunnels.filter((tunnel) => tunnel.at !== undefined);
  const core = await startCore({
    id: 'central',
    logger: silentLogger,
    tunnels,
    forwards: branchTunnels.map((tunnel) => ({ listen: anyPort, tunnel: tunnel.name })),
    ...options.core,
  });
  t.teardown(() => core.close());
  const proxies: TunnelMesh['proxies'] = {};
  const edgeTo = async (
    id: 'eu-1' | 'us-1',
    role: 'branch' | 'entry',
    forwards: EdgeOptions['forwards'],
  ): Promise<EdgeHandle> => {
    let url = core.url;
    if (options.proxied) {
      const proxy = await startTcpProxy({ target: core.address });
      t.teardown(() => proxy.close());
      proxies[role] = proxy;
      url = proxy.url;
    }
    const edge = await startEdge({
      id,
      region: id.slice(0, 2),
      cores: [{ id: core.id, url }],
      logger: silentLogger,
      uplink: quietUplink,
      tunnels,
      forwards,
      ...options.edge,
    });
    t.teardown(() => edge.close());
    return edge;
  };
  const branch = await edgeTo('eu-1', 'branch', []);
  const entry = await edgeTo(
    'us-1',
    'entry',
    tunnels.map((tunnel) => ({ listen: anyPort, tunnel: tunnel.name })),
  );
  await Promise.all([branch.ready(), entry.ready()]);
  const indexOf = (list: readonly TunnelConfig[], name: string): number => {
    const index = list.findIndex((tunnel) => tunnel.name === name);
    if (index < 0) throw new Error(`no forward to ${name}`);
    return index;
  };
  return {
    core,
    branch,
    entry,
    proxies,
    tunnels,
    forward: (name) => entry.forwards[indexOf(tunnels, name)]!,
    coreForward: (name) => core.forwards[indexOf(branchTunnels, name)]!,
    tunnelUrl: (name, edge = entry) => `${edge.url}/v1/tunnel/${encodeURIComponent(name)}`,
  };
}

/** A TCP client of a forward, closed in teardown. */
export async function connectTo(t: ExecutionContext, address: Address): Promise<Socket> {
  const socket = connect({ host: address.host, port: address.port, allowHalfOpen: true });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}
