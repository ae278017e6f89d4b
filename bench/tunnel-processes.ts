// Starts the tunnel benchmark's processes for one setting of the WAN: the service, the relaymesh core and entry edge
// (a forward to each tunnel), the naive proxy's two halves, a process for bulk traffic and, with a WAN, the links
// that delay what crosses it: entry edge ↔ core, naive local ↔ remote, and a client ↔ the service directly.
// With RELAYMESH_BENCH_CPU_PROF=<dir>, the edge and the core write CPU profiles there when they stop.

import { forkBench, type BenchChild } from './child.js';
import type { NaiveTunnelSpec } from './naive-tunnel-process.js';
import type { ServerStats } from './server-process.js';
import type { TunnelNodeReady, TunnelNodeSpec } from './tunnel-node-process.js';
import type { WanLinkSpec } from './wan-link-process.js';
import type { Address, TunnelConfig } from '../shared/topology.js';

/** The tunnels every setting has: `bench` to the benchmark service, and `pg` to PostgreSQL when it runs. */
export type TunnelName = 'bench' | 'pg';

export interface TunnelProcesses {
  /** The service, straight (across the WAN when there is one). */
  direct: Address;
  /** The entry edge's forward to a tunnel. */
  forward(name: TunnelName): Address;
  /** The naive proxy's local listener for a tunnel. */
  naive(name: TunnelName): Address;
  /** ws://… of the entry edge, for pub/sub clients. */
  edgeUrl: string;
  edge: BenchChild;
  core: BenchChild;
  naiveLocal: BenchChild;
  naiveRemote: BenchChild;
  service: BenchChild;
  bulk: BenchChild;
  stop(): Promise<void>;
}

const nodeArgs = ['--expose-gc'];

function profiled(): string[] {
  const dir = process.env.RELAYMESH_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

function addressOf(url: string): Address {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

export function askStats(child: BenchChild, collectGarbage = false): Promise<ServerStats> {
  return child.ask<ServerStats>(collectGarbage ? 'stats-gc' : 'stats', 'stats');
}

/** Everything for one setting; `oneWayMs` 0 is loopback with no links at all. */
export async function startTunnelProcesses(oneWayMs: number, postgres: Address | undefined): Promise<TunnelProcesses> {
  const children: BenchChild[] = [];
  const fork = (script: string, spec: unknown, execArgv: string[] = []): BenchChild => {
    const child = forkBench(script, [JSON.stringify(spec)], execArgv);
    children.push(child);
    return child;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => child.end()));
  };
  try {
    const service = fork('./tunnel-service-process.ts', {}, nodeArgs);
    const bulk = fork('./tunnel-bulk-process.ts', {});
    const serviceAddress = await service.next<Address>('address');
    const tunnels: TunnelConfig[] = [{ name: 'bench', connect: serviceAddress }];
    if (postgres) tunnels.push({ name: 'pg', connect: postgres });
    const services = Object.fromEntries(tunnels.map((tunnel) => [tunnel.name, tunnel.connect]));

    const coreSpec: TunnelNodeSpec = { role: 'core', tunnels };
    const core = fork('./tunnel-node-process.ts', coreSpec, [...nodeArgs, ...profiled()]);
    const remoteSpec: NaiveTunnelSpec = { role: 'remote', services };
    const naiveRemote = fork('./naive-tunnel-process.ts', remoteSpec, nodeArgs);
    const coreUrl = (await core.next<TunnelNodeReady>('ready')).url;
    const remoteUrl = await naiveRemote.next<string>('url');

    // With a WAN: what the entry side dials goes through a link that delays it.
    const across = async (targets: Address[]): Promise<Address[]> => {
      if (oneWayMs === 0) return targets;
      const specs: WanLinkSpec[] = targets.map((target) => ({ target, oneWayMs }));
      return fork('./wan-link-process.ts', specs).next<Address[]>('links');
    };
    const [coreLink, remoteLink, direct] = await across([addressOf(coreUrl), addressOf(remoteUrl), serviceAddress]);
    const url = (address: Address): string => `ws://${address.host}:${address.port}`;

    const edgeSpec: TunnelNodeSpec = { role: 'edge', tunnels, coreUrl: url(coreLink!) };
    const edge = fork('./tunnel-node-process.ts', edgeSpec, [...nodeArgs, ...profiled()]);
    const localSpec: NaiveTunnelSpec = { role: 'local', remoteUrl: url(remoteLink!), services: Object.keys(services) };
    const naiveLocal = fork('./naive-tunnel-process.ts', localSpec, nodeArgs);
    const [edgeReady, naiveAddresses] = await Promise.all([
      edge.next<TunnelNodeReady>('ready'),
      naiveLocal.next<Record<string, Address>>('addresses'),
    ]);
    const pick = <T>(list: Record<string, T>, name: TunnelName): T => {
      const found = list[name];
      if (!found) throw new Error(`no tunnel ${name} in this setting`);
      return found;
    };
    const forwards = Object.fromEntries(tunnels.map((tunnel, i) => [tunnel.name, edgeReady.forwards[i]!]));
    return {
      direct: direct!,
      forward: (name) => pick(forwards, name),
      naive: (name) => pick(naiveAddresses, name),
      edgeUrl: edgeReady.url,
      edge,
      core,
      naiveLocal,
      naiveRemote,
      service,
      bulk,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
