// The tunnels of a topology (docs/protocol.md §8): `tunnels.<name>` with the service's address and the edge that dials
// it, and the `forwards` of cores and edges, TCP listeners whose connections each become one stream to a tunnel.

import { Checker, child, field, isRecord, parseAddress, record, text, type Entry } from './topology-schema.js';
import type { Address } from './topology.js';

export interface TunnelConfig {
  name: string;
  /** The service's host and port. */
  connect: Address;
  /** The edge that dials it (a service in a branch); absent: the core that carries the stream does. */
  at?: string;
}

export interface ForwardConfig {
  listen: Address;
  tunnel: string;
}

const tunnelNamePattern = /^[A-Za-z0-9_.-]{1,64}$/;

export function isTunnelName(value: string): boolean {
  return tunnelNamePattern.test(value);
}

/** `tunnels`: an object of named services. `edgeIds` are the edges `at` may name. */
export function checkTunnels(
  c: Checker,
  root: Record<string, unknown>,
  edgeIds: readonly string[],
): Map<string, TunnelConfig> {
  const tunnels = new Map<string, TunnelConfig>();
  const value = field(root, 'tunnels');
  if (value === undefined) return tunnels;
  if (!isRecord(value)) {
    c.fail('$.tunnels', 'an object of tunnels by name ({"pg": {"connect": "10.0.0.7:5432"}})', value);
    return tunnels;
  }
  for (const [name, tunnel] of Object.entries(value)) {
    const path = child('$.tunnels', name);
    if (!isTunnelName(name)) c.fail(path, 'a tunnel name of 1-64 letters, digits, "_", "." and "-"', name);
    const checked = checkTunnel(c, tunnel, path, edgeIds);
    if (checked && isTunnelName(name)) tunnels.set(name, { name, ...checked });
  }
  return tunnels;
}

function checkTunnel(
  c: Checker,
  value: unknown,
  path: string,
  edgeIds: readonly string[],
): Omit<TunnelConfig, 'name'> | undefined {
  const tunnel = record(c, value, path, ['connect', 'at'], 'a tunnel object {connect, at?}');
  if (tunnel === undefined) return undefined;
  const connect = text(c, tunnel, path, 'connect', '"host:port" of the service (port 1-65535)', isDialable);
  const at = field(tunnel, 'at');
  if (at !== undefined && (typeof at !== 'string' || !edgeIds.includes(at)))
    c.fail(child(path, 'at'), `the id of an edge in this file (${edgeIds.join(', ') || 'none'})`, at);
  if (connect === undefined || (at !== undefined && typeof at !== 'string')) return undefined;
  return { connect: parseAddress(connect)!, ...(typeof at === 'string' ? { at } : {}) };
}

function isDialable(value: string): boolean {
  const address = parseAddress(value);
  return address !== undefined && address.port > 0;
}

/**
 * A node's `forwards`: listeners on ports of their own, each for a tunnel of the file. `tunnelNames` are those a
 * forward of this node may name: a core's only those an edge dials, as a core would otherwise forward to itself.
 */
export function checkForwards(
  c: Checker,
  node: Record<string, unknown>,
  path: string,
  tunnelNames: readonly string[],
): ForwardConfig[] | undefined {
  const value = field(node, 'forwards');
  if (value === undefined) return undefined;
  const forwardsPath = child(path, 'forwards');
  if (!Array.isArray(value)) return c.fail(forwardsPath, 'an array of forwards [{listen, tunnel}]', value);
  const forwards: ForwardConfig[] = [];
  value.forEach((item: unknown, index) => {
    const itemPath = `${forwardsPath}[${index}]`;
    const forward = record(c, item, itemPath, ['listen', 'tunnel'], 'a forward object {listen, tunnel}');
    if (forward === undefined) return;
    const listen = text(
      c,
      forward,
      itemPath,
      'listen',
      '"host:port" to listen on (port 1-65535; bind it to loopback or a private interface)',
      isDialable,
    );
    const tunnel = text(
      c,
      forward,
      itemPath,
      'tunnel',
      `the name of a tunnel in this file that this node may forward to (${tunnelNames.join(', ') || 'none'})`,
      (name) => tunnelNames.includes(name),
    );
    if (listen !== undefined && tunnel !== undefined) forwards.push({ listen: parseAddress(listen)!, tunnel });
  });
  return forwards.length === value.length ? forwards : undefined;
}

/** The listen addresses of a node's forwards in the raw file, for the check that no two listeners share one. */
export function forwardListens(node: Record<string, unknown>, path: string): Entry[] {
  const forwards = field(node, 'forwards');
  if (!Array.isArray(forwards)) return [];
  return forwards.flatMap((forward: unknown, index) =>
    isRecord(forward) ? [{ value: field(forward, 'listen'), path: `${child(path, 'forwards')}[${index}].listen` }] : [],
  );
}
