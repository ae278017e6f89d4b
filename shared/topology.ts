// Loads and validates the topology file (docs/protocol.md §6): the nodes of the mesh and the settings they share.
// A bad file is refused before anything listens, with every problem listed at once (DESIGN.md, Conventions).

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  Checker,
  child,
  field,
  isRecord,
  isUrl,
  maxTimerMs,
  parseAddress,
  positiveInt,
  record,
  text,
  type Entry,
  type NodeScope,
} from './topology-schema.js';
import type { LocateConfig } from './locate.js';
import { checkLocate } from './topology-locate.js';
import { checkEngine, type EngineConfig } from './topology-engine.js';
import { checkHooks, type HooksConfig } from './topology-hooks.js';
import {
  checkForwards,
  checkTunnels,
  forwardListens,
  type ForwardConfig,
  type TunnelConfig,
} from './topology-tunnels.js';
import {
  checkAuth,
  checkCa,
  checkOrigins,
  checkProxy,
  checkSecretEnv,
  checkSecretsEverywhere,
  checkTls,
  type AuthConfig,
  type Environment,
  type TlsConfig,
} from './topology-security.js';
import { checkTierLoops, hubIdsOf } from './topology-tiers.js';

export type { AuthConfig, Environment, TlsConfig, TokenAlgorithm, TokenAuthConfig } from './topology-security.js';
export type { ForwardConfig, TunnelConfig } from './topology-tunnels.js';
export { hookNames, type HookName, type HooksConfig } from './topology-hooks.js';
export { maxTimerMs } from './topology-schema.js';
export type { NodeScope } from './topology-schema.js';

export interface Address {
  host: string;
  port: number;
}

export interface CoreConfig {
  id: string;
  listen: Address;
  url: string;
  region: string;
  /** Serve wss:// and https:// with this certificate. */
  tls?: TlsConfig;
  /** TCP listeners whose connections each become a stream to a tunnel (docs/protocol.md §8). */
  forwards?: readonly ForwardConfig[];
}

export interface EdgeConfig extends CoreConfig {
  cores: readonly string[];
  /** The CA (absolute path) the edge trusts for its cores' certificates; default: the system's. */
  ca?: string;
  /** The environment variable holding the secret this edge proves to its cores. */
  secretEnv?: string;
  /** The forward proxy (http[s]://host:port) the edge reaches its cores and peers through (HTTP CONNECT). */
  proxy?: string;
  /** The environment variable holding the proxy's Basic credentials, `user:password`. */
  proxyAuthEnv?: string;
  /** Allowed `Origin` values of browser clients (and CORS); absent: every origin. */
  origins?: readonly string[];
  /** This edge also takes uplinks from other edges, which name it in their `cores` (docs/protocol.md §6). */
  hub?: boolean;
}

export interface HistoryConfig {
  maxMessages: number;
  maxAgeMs: number;
  /** Bytes of history a core keeps across all topics (memory engine); beyond it the oldest messages go first. */
  maxBytes: number;
}

export interface LimitsConfig {
  maxMessageBytes: number;
  maxSubscriptionsPerSession: number;
  /** Per client session; a session whose outbox grows beyond it is a slow consumer. */
  outboxMaxBytes: number;
  connectTimeoutMs: number;
  headerTimeoutMs: number;
  /** Client heartbeat. */
  heartbeatMs: number;
  /** How long a `pub` waits for a down uplink before it fails. */
  publishHoldMs: number;
  /** Largest message before `connect` (a stranger gets less room than a client). */
  maxPreConnectMessageBytes: number;
  /** Client messages per second a session may send on average (token bucket), and the burst it may send at once. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Client connections one IP address may hold on an edge. */
  maxConnectionsPerIp: number;
  /** Client sessions an edge holds at most: past it, new clients get 503 and /v1/locate sends them elsewhere. */
  maxConnections: number;
  /** Distinct topics and patterns an edge subscribes on its uplink; past it, `sub` gets `too_many_subscriptions`. */
  maxTopicsPerEdge: number;
  /** How many publishes an edge holds while its uplink is down; more fail at once. */
  maxHeldPublishes: number;
  /** How long a draining edge lets its clients move after `redirect` before closing them (4503). */
  drainGraceMs: number;
  /** How long an HTTP-streaming session outlives a broken stream, waiting for a resume with Last-Event-ID. */
  streamGraceMs: number;
  /** Payload bytes one replay (a resume with `since`) may carry; beyond, it is answered `recovered: false`. */
  maxReplayBytes: number;
  /** Bytes an edge's recent-message caches hold across all topics; beyond, the oldest cached messages go first. */
  recentCacheMaxBytes: number;
  /** Distinct topics and patterns the sessions of one client address may hold on an edge (its share of maxTopicsPerEdge). */
  maxTopicsPerAddress: number;
  /** Bytes of one client address's publishes that may wait for the core at once; beyond, `pub` gets `rate_limited`. */
  maxPublishBytesPerAddress: number;
  /** Topics and patterns new to the edge that one client address may subscribe to per second (five seconds' worth at once). */
  newTopicsPerSecondPerAddress: number;
  /** Bytes all clients of an edge may leave untaken in their sockets together; beyond, those furthest behind are cut (4508). */
  outboxTotalMaxBytes: number;
  /** Tunnel streams a node carries at once: on an edge, those entering and leaving there; on a core, per edge. */
  maxTunnelStreams: number;
  /** Tunnel streams the clients of one address may hold on an edge at once (TCP forwards and WebSocket). */
  maxTunnelStreamsPerAddress: number;
  /** Tunnel bytes received over one uplink and not yet passed on; beyond, the streams holding most are reset. */
  tunnelBufferMaxBytes: number;
  /** How long the node that dials a tunnel's service waits for it to answer. */
  tunnelConnectTimeoutMs: number;
  /** How long a core keeps an edge's presence members after losing its uplink, for the edge to come back. */
  presenceGraceMs: number;
  /** Above this many members a topic's `join` / `leave` are no longer sent (`presence` still counts them all). */
  presenceEventsMaxMembers: number;
  /** Joins and leaves a core announces per topic per second; beyond, each session's net change waits for room. */
  presenceEventsPerSecond: number;
  /** Backend hook calls an edge waits for at once; past it, requests that need one are refused (`unavailable`). */
  maxPendingHookCalls: number;
  /** The share of those the clients of one address may hold. */
  maxPendingHookCallsPerAddress: number;
}

export interface UplinkConfig {
  /** The edge pings its core at this period; a silent period means the link is dead. */
  heartbeatMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** While on a disaster-recovery core, how often the edge checks whether its primary is back. */
  failbackMs: number;
  /** How often edge and core compare digests of the edge's subscriptions. */
  digestMs: number;
  /** How often an edge reports its health and load to its core, and the core passes the mesh's to its edges. */
  statusMs: number;
  /**
   * Bytes one uplink may have waiting, each way (queued plus in the socket): past it an edge refuses publishes with
   * `unavailable`, and a core drops an edge that does not read.
   */
  maxQueueBytes: number;
}

export type { EngineConfig } from './topology-engine.js';

export interface Topology {
  /** Absolute path of the file, '' when validated from a value. */
  file: string;
  cores: readonly CoreConfig[];
  edges: readonly EdgeConfig[];
  history: HistoryConfig;
  limits: LimitsConfig;
  uplink: UplinkConfig;
  engine: EngineConfig;
  auth: AuthConfig;
  /** How /v1/locate ranks edges: neighbour regions, the edges' order in this file, the region header. */
  locate: LocateConfig;
  /** The byte-stream services the mesh carries (docs/protocol.md §8). */
  tunnels: readonly TunnelConfig[];
  /** The backend an edge asks before letting clients connect, subscribe or publish (docs/protocol.md §9). */
  hooks?: HooksConfig;
}

export interface TopologyProblem {
  file: string;
  path: string;
  expected: string;
  found: string;
}

export class TopologyError extends Error {
  readonly problems: readonly TopologyProblem[];

  constructor(problems: readonly TopologyProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'TopologyError';
    this.problems = Object.freeze(problems.map((problem) => Object.freeze({ ...problem })));
  }
}

function formatProblem({ file, path, expected, found }: TopologyProblem): string {
  return `${file || '<topology>'}: ${path}: expected ${expected}, found ${found}`;
}

// 256 MiB: one topic may hold up to maxMessages × maxMessageBytes (125 MiB at the defaults), and without a total,
// a client publishing to fresh topics within its rate limit grows the core for a whole maxAgeMs. This keeps history
// to a quarter of a 1 GiB core, with room for sockets, queues and the heap's own slack.
export const defaultHistory: HistoryConfig = Object.freeze({
  maxMessages: 1000,
  maxAgeMs: 300_000,
  maxBytes: 268_435_456,
});

export const defaultLimits: LimitsConfig = Object.freeze({
  maxMessageBytes: 131_072,
  maxSubscriptionsPerSession: 1000,
  outboxMaxBytes: 8_388_608,
  connectTimeoutMs: 10_000,
  headerTimeoutMs: 10_000,
  heartbeatMs: 25_000,
  publishHoldMs: 10_000,
  maxPreConnectMessageBytes: 4096,
  messagesPerSecond: 100,
  messageBurst: 200,
  maxConnectionsPerIp: 1000,
  maxConnections: 100_000,
  maxTopicsPerEdge: 100_000,
  maxHeldPublishes: 10_000,
  drainGraceMs: 5_000,
  streamGraceMs: 30_000,
  maxReplayBytes: 4_194_304,
  recentCacheMaxBytes: 67_108_864,
  maxTopicsPerAddress: 10_000,
  maxPublishBytesPerAddress: 4_194_304,
  newTopicsPerSecondPerAddress: 500,
  outboxTotalMaxBytes: 268_435_456,
  maxTunnelStreams: 1024,
  maxTunnelStreamsPerAddress: 64,
  tunnelBufferMaxBytes: 67_108_864,
  tunnelConnectTimeoutMs: 10_000,
  presenceGraceMs: 30_000,
  presenceEventsMaxMembers: 1000,
  presenceEventsPerSecond: 100,
  maxPendingHookCalls: 1000,
  maxPendingHookCallsPerAddress: 64,
});

export const defaultUplink: UplinkConfig = Object.freeze({
  heartbeatMs: 2000,
  reconnectBaseMs: 100,
  reconnectMaxMs: 5000,
  failbackMs: 10_000,
  digestMs: 30_000,
  statusMs: 2000,
  maxQueueBytes: 33_554_432,
});

const topLevelFields = [
  'cores',
  'edges',
  'history',
  'limits',
  'uplink',
  'engine',
  'auth',
  'regions',
  'locate',
  'tunnels',
  'hooks',
];
const coreFields = ['id', 'listen', 'url', 'region', 'tls', 'forwards'];
const edgeFields = [...coreFields, 'cores', 'ca', 'secretEnv', 'origins', 'proxy', 'proxyAuthEnv', 'hub'];
const idPattern = /^[A-Za-z0-9_.-]+$/;
/** Addresses meaning every interface of the host a node runs on. */
const wildcardHosts: ReadonlySet<string> = new Set(['0.0.0.0', '::']);

/** `env` holds the secrets the file names (default: this process's environment). */
/** `scope`: the one node this process runs, which needs only its own secrets and files; absent: every node's. */
export function validateTopology(
  value: unknown,
  file: string,
  env: Environment = process.env,
  scope?: NodeScope,
): Topology {
  const c = new Checker(file);
  const dir = file ? dirname(file) : process.cwd();
  const root = record(c, value, '$', topLevelFields, 'a topology object {cores, edges}');
  if (root === undefined) throw new TopologyError(c.problems);
  const coreEntries = entries(c, root, 'cores', 'a non-empty array of cores');
  const edgeEntries = entries(c, root, 'edges', 'a non-empty array of edges');
  if (scope) {
    const node = (scope.role === 'core' ? coreEntries : edgeEntries).find(
      ({ value: entry }) => isRecord(entry) && field(entry, 'id') === scope.id,
    );
    // An id not in the file leaves every node checked; the command then says that no such node exists.
    // A hub checks the identities of the edges behind it as a core does: it needs their secrets too.
    const hub = scope.role === 'edge' && isRecord(node?.value) && field(node.value, 'hub') === true;
    if (node) c.scopeTo(hub ? 'hub' : scope.role, node.path);
  }
  const idsOf = (nodes: Entry[]): string[] =>
    nodes.map(({ value: node }) => (isRecord(node) ? validId(field(node, 'id')) : undefined)).filter(isDefined);
  const coreIds = idsOf(coreEntries);
  const tunnels = checkTunnels(c, root, idsOf(edgeEntries));
  const tunnelNames = [...tunnels.keys()];
  // A core dials the tunnels without `at` itself: a forward to one of them would only be a plain TCP proxy.
  const atEdges = [...tunnels.values()].filter((tunnel) => tunnel.at !== undefined).map((tunnel) => tunnel.name);
  const cores = coreEntries.map((entry) => checkCore(c, entry, dir, atEdges));
  const upstream = { coreIds, hubIds: hubIdsOf(edgeEntries) };
  const edges = edgeEntries.map((entry) => checkEdge(c, entry, upstream, dir, env, tunnelNames));
  checkTierLoops(c, edges);
  checkSecretsEverywhere(c, edgeEntries, root);
  checkUnique(c, [...coreEntries, ...edgeEntries]);
  const history = numbers(c, root, 'history', defaultHistory);
  const limits = numbers(c, root, 'limits', defaultLimits);
  const uplink = checkUplink(c, root);
  const engine = checkEngine(c, root, env);
  const auth = checkAuth(c, root, dir, env);
  const hooks = checkHooks(c, root, env);
  const locate = checkLocate(
    c,
    root,
    edges.filter(isDefined).map((edge) => edge.id),
  );
  if (c.problems.length > 0) throw new TopologyError(c.problems);
  return deepFreeze({
    file,
    cores: cores.filter(isDefined),
    edges: edges.filter(isDefined),
    history,
    limits,
    uplink,
    engine,
    auth,
    locate,
    tunnels: [...tunnels.values()],
    ...(hooks ? { hooks } : {}),
  });
}

export async function loadTopology(file: string, scope?: NodeScope): Promise<Topology> {
  const path = resolve(file);
  const source = await readSource(path);
  return validateTopology(parseJson(source, path), path, process.env, scope);
}

async function readSource(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new TopologyError([{ file: path, path: '$', expected: 'a readable file', found: errorMessage(error) }]);
  }
}

function parseJson(source: string, path: string): unknown {
  // Editors on Windows like to save a byte-order mark, which JSON.parse rejects.
  const json = source.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(json) as unknown;
  } catch (error) {
    throw new TopologyError([
      { file: path, path: '$', expected: 'valid JSON', found: withLineColumn(errorMessage(error), json) },
    ]);
  }
}

// Node 20's parser reports only a character offset; an operator wants a line to go to.
function withLineColumn(message: string, json: string): string {
  const position = /position (\d+)/.exec(message);
  if (position === null || /line \d+/.test(message)) return message;
  const before = json.slice(0, Number(position[1])).split('\n');
  return `${message} (line ${before.length} column ${(before.at(-1)?.length ?? 0) + 1})`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function entries(c: Checker, root: Record<string, unknown>, key: string, expected: string): Entry[] {
  const value = field(root, key);
  if (!Array.isArray(value) || value.length === 0) {
    c.fail(child('$', key), expected, value);
    return [];
  }
  return value.map((item: unknown, index) => ({ value: item, path: `$.${key}[${index}]` }));
}

function checkCore(c: Checker, entry: Entry, dir: string, tunnelNames: readonly string[]): CoreConfig | undefined {
  const core = record(c, entry.value, entry.path, coreFields, 'a core object {id, listen, url, region}');
  return core && checkNode(c, core, entry.path, dir, tunnelNames);
}

function checkEdge(
  c: Checker,
  entry: Entry,
  upstream: { coreIds: readonly string[]; hubIds: readonly string[] },
  dir: string,
  env: Environment,
  tunnelNames: readonly string[],
): EdgeConfig | undefined {
  const edge = record(c, entry.value, entry.path, edgeFields, 'an edge object {id, listen, url, region, cores}');
  if (edge === undefined) return undefined;
  const node = checkNode(c, edge, entry.path, dir, tunnelNames);
  const cores = checkEdgeCores(c, field(edge, 'cores'), child(entry.path, 'cores'), [
    ...upstream.coreIds,
    ...upstream.hubIds.filter((id) => id !== field(edge, 'id')),
  ]);
  const hub = field(edge, 'hub');
  if (hub !== undefined && typeof hub !== 'boolean') c.fail(child(entry.path, 'hub'), 'true or false', hub);
  const ca = checkCa(c, edge, entry.path, dir);
  const secretEnv = checkSecretEnv(c, edge, entry.path, env);
  const origins = checkOrigins(c, edge, entry.path);
  const proxy = checkProxy(c, edge, entry.path, env);
  if (!node || !cores) return undefined;
  return {
    ...node,
    cores,
    ...(ca ? { ca } : {}),
    ...(secretEnv ? { secretEnv } : {}),
    ...(origins ? { origins } : {}),
    ...(hub === true ? { hub } : {}),
    ...proxy,
  };
}

function checkNode(
  c: Checker,
  node: Record<string, unknown>,
  path: string,
  dir: string,
  tunnelNames: readonly string[],
): CoreConfig | undefined {
  const id = text(c, node, path, 'id', 'a non-empty id of letters, digits, "_", "." and "-"', (s) => idPattern.test(s));
  const listen = text(
    c,
    node,
    path,
    'listen',
    '"host:port" (IPv4, hostname or [IPv6]; port 0-65535)',
    (s) => parseAddress(s) !== undefined,
  );
  const url = text(c, node, path, 'url', 'a ws:// or wss:// URL', (s) => isUrl(s, ['ws:', 'wss:']));
  const region = text(c, node, path, 'region', 'a non-empty string', (s) => s.length > 0);
  const address = listen === undefined ? undefined : parseAddress(listen);
  const tls = checkTls(c, node, path, dir);
  const forwards = checkForwards(c, node, path, tunnelNames);
  if (id === undefined || address === undefined || url === undefined || region === undefined) return undefined;
  return { id, listen: address, url, region, ...(tls ? { tls } : {}), ...(forwards ? { forwards } : {}) };
}

/** `upstreamIds`: the cores, and the hubs other than the edge itself. */
function checkEdgeCores(
  c: Checker,
  value: unknown,
  path: string,
  upstreamIds: readonly string[],
): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return c.fail(path, 'a non-empty array of core ids', value);
  const known = `the id of a core or hub in this file (${upstreamIds.join(', ') || 'none'})`;
  const cores: string[] = [];
  value.forEach((id: unknown, index) => {
    if (typeof id !== 'string' || !upstreamIds.includes(id)) c.fail(`${path}[${index}]`, known, id);
    else if (cores.includes(id)) c.fail(`${path}[${index}]`, 'a core not already listed for this edge', id);
    else cores.push(id);
  });
  return cores.length === value.length ? cores : undefined;
}

// Runs on the raw entries so that a duplicate is reported even when the rest of its node is broken.
function checkUnique(c: Checker, nodes: readonly Entry[]): void {
  const ids = new Map<string, string>();
  const listens = new Map<string, string>();
  for (const { value, path } of nodes) {
    if (!isRecord(value)) continue;
    const id = validId(field(value, 'id'));
    if (id !== undefined) claim(c, ids, id, child(path, 'id'), 'an id not used by another node', id);
    for (const listen of [
      { value: field(value, 'listen'), path: child(path, 'listen') },
      ...forwardListens(value, path),
    ]) {
      const address = typeof listen.value === 'string' ? parseAddress(listen.value) : undefined;
      // Port 0 asks the OS for a free port, so any number of nodes may share it; and nodes on hosts of their own all
      // listen on every interface (0.0.0.0:443), which only a node on the same host would clash with (at start), but
      // one node's own listeners (its port and its forwards) always share a host.
      if (address === undefined || address.port === 0) continue;
      const wildcard = wildcardHosts.has(address.host);
      claim(
        c,
        listens,
        wildcard ? `${path} * ${address.port}` : `${address.host.toLowerCase()} ${address.port}`,
        listen.path,
        'a listen address not used by another node or forward',
        listen.value,
      );
    }
  }
}

function claim(
  c: Checker,
  seen: Map<string, string>,
  key: string,
  path: string,
  expected: string,
  found: unknown,
): void {
  const first = seen.get(key);
  if (first === undefined) seen.set(key, path);
  else c.fail(path, `${expected} (already used at ${first})`, found);
}

function numbers<K extends string>(
  c: Checker,
  root: Record<string, unknown>,
  key: string,
  defaults: Readonly<Record<K, number>>,
): Record<K, number> {
  const result: Record<K, number> = { ...defaults };
  const value = field(root, key);
  if (value === undefined) return result;
  const path = child('$', key);
  const names = Object.keys(defaults) as K[];
  const group = record(c, value, path, names, `an object of optional settings (${names.join(', ')})`);
  if (group === undefined) return result;
  for (const name of names) {
    const setting = field(group, name);
    if (setting === undefined) continue;
    const max = name.endsWith('Ms') ? maxTimerMs : Number.MAX_SAFE_INTEGER;
    const checked = positiveInt(c, setting, child(path, name), max);
    if (checked !== undefined) result[name] = checked;
  }
  return result;
}

function checkUplink(c: Checker, root: Record<string, unknown>): UplinkConfig {
  const uplink = numbers(c, root, 'uplink', defaultUplink);
  // The backoff doubles from base up to max; a base above max would make the cap meaningless.
  if (uplink.reconnectBaseMs > uplink.reconnectMaxMs) {
    c.fail('$.uplink.reconnectBaseMs', `at most reconnectMaxMs (${uplink.reconnectMaxMs})`, uplink.reconnectBaseMs);
  }
  return uplink;
}

function validId(value: unknown): string | undefined {
  return typeof value === 'string' && idPattern.test(value) ? value : undefined;
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  Object.freeze(value);
  for (const nested of Object.values(value)) deepFreeze(nested);
  return value;
}
