// The checking primitives behind shared/topology.ts: a collector of problems and checks that report instead of throwing,
// so one pass over a bad topology file lists everything wrong with it.

import { isIPv4, isIPv6 } from 'node:net';
import type { Address, TopologyProblem } from './topology.js';

/** One element of an array in the file, with the JSON path it is reported under. */
export interface Entry {
  value: unknown;
  path: string;
}

/** The node one process runs (`relaymesh core|edge --id`): it needs only the secrets and files that node uses. */
export interface NodeScope {
  role: 'core' | 'edge';
  id: string;
}

export class Checker {
  readonly problems: TopologyProblem[] = [];
  /** Set once the node's place in the file is known: `$.cores[2]`, `$.edges[0]`; undefined checks every node. */
  private scopePath: string | undefined;
  private scopeRole: NodeScope['role'] | 'hub' | undefined;

  constructor(readonly file: string) {}

  /** From now on, only what the node at `path` uses must be present (see `needs`). */
  scopeTo(role: NodeScope['role'] | 'hub', path: string): void {
    this.scopeRole = role;
    this.scopePath = path;
  }

  /**
   * Whether the secret or file at `path` must be present for this process: all of them for `check` and `up`; for one
   * node, its own, the client auth an edge checks, and for a core the publish keys, the edges' secrets it verifies
   * and the engine's password; a hub, an edge's and the edges' secrets. An edge never needs another edge's secret or
   * a core's TLS key.
   */
  needs(path: string): boolean {
    if (this.scopePath === undefined) return true;
    if (path === this.scopePath || path.startsWith(`${this.scopePath}.`)) return true;
    const edgeNeeds = path.startsWith('$.auth.') || path.startsWith('$.hooks.');
    if (this.scopeRole === 'edge') return edgeNeeds;
    if (this.scopeRole === 'hub') return edgeNeeds || /^\$\.edges\[\d+\]\.secretEnv$/.test(path);
    return (
      path === '$.auth.publishKeysEnv' || path.startsWith('$.engine.') || /^\$\.edges\[\d+\]\.secretEnv$/.test(path)
    );
  }

  /** Records a problem; returns undefined so a check can `return c.fail(...)`. */
  fail(path: string, expected: string, found: unknown): undefined {
    this.problems.push({ file: this.file, path, expected, found: render(found) });
    return undefined;
  }
}

// setTimeout fires at once (with only a warning) when given more than this, so no duration may exceed it.
export const maxTimerMs = 2_147_483_647;

const maxFoundLength = 60;

/** The value as a problem shows it: compact JSON, cut short, and "nothing" for a missing field. */
export function render(value: unknown): string {
  if (value === undefined) return 'nothing';
  // JSON would show these as null, hiding what was really passed to validateTopology.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined) return `a ${typeof value}`;
  return json.length > maxFoundLength ? `${json.slice(0, maxFoundLength - 1)}…` : json;
}

/** A URL with a host and one of `protocols` (`'ws:'`, `'https:'`, …). */
export function isUrl(value: string, protocols: readonly string[]): boolean {
  try {
    const url = new URL(value);
    return protocols.includes(url.protocol) && url.host !== '' && value.startsWith(`${url.protocol}//`);
  } catch {
    return false;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own fields only: `"__proto__"` or `"toString"` in a file must not reach Object.prototype. */
export function field(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

export function child(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** An object whose keys are all known; unknown keys are reported so that typos do not silently fall back to defaults. */
export function record(
  c: Checker,
  value: unknown,
  path: string,
  fields: readonly string[],
  expected: string,
): Record<string, unknown> | undefined {
  if (!isRecord(value)) return c.fail(path, expected, value);
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) c.fail(child(path, key), `one of the known fields (${fields.join(', ')})`, key);
  }
  return value;
}

export function text(
  c: Checker,
  object: Record<string, unknown>,
  path: string,
  key: string,
  expected: string,
  ok: (value: string) => boolean,
): string | undefined {
  const value = field(object, key);
  if (typeof value === 'string' && ok(value)) return value;
  return c.fail(child(path, key), expected, value);
}

export function positiveInt(c: Checker, value: unknown, path: string, max: number): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max) return value;
  return c.fail(
    path,
    max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `a positive integer up to ${max}`,
    value,
  );
}

const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const hostnamePattern = new RegExp(`^(?=.{1,253}$)${label}(?:\\.${label})*$`);

/** "host:port" with an IPv4 address, a hostname or a bracketed IPv6 address; the brackets are dropped, as net.listen wants. */
export function parseAddress(value: string): Address | undefined {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  if (match === null) return undefined;
  const [, ipv6, name, portText] = match;
  const port = Number(portText);
  if (port > 65_535) return undefined;
  if (ipv6 !== undefined) return isIPv6(ipv6) ? { host: ipv6, port } : undefined;
  return name !== undefined && isHost(name) ? { host: name, port } : undefined;
}

// All digits and dots reads as an IPv4 address, so "300.1.1.1" is a typo and not a hostname.
function isHost(name: string): boolean {
  return /^[\d.]+$/.test(name) ? isIPv4(name) : hostnamePattern.test(name);
}
