// The mesh as its nodes see it: each edge reports its health and load to its core (uplink `edgeStatus`), and the
// core passes what it knows to every edge (`meshView`), so any node can answer /v1/locate and /v1/mesh.
// On the uplink these travel as msgpack arrays (rows); in HTTP answers as the objects below.

import type { Condition } from './condition.js';

/** What an edge reports about itself; counters run from the edge's start. */
export interface EdgeReport {
  /** Where clients reach it: its base URL (ws://host:port). */
  url: string;
  draining: boolean;
  sessions: number;
  /** Sessions it accepts at most (limits.maxConnections). */
  capacity: number;
  topics: number;
  /** Messages queued to clients. */
  deliveries: number;
  /** Messages received from the core. */
  messagesIn: number;
  /** Messages its clients published and the core sequenced. */
  published: number;
}

export interface EdgeStatus extends EdgeReport {
  id: string;
  region: string;
  /** The core this edge's uplink is connected to ('' when it is down). */
  core: string;
  /** Can take new clients: uplink up, not draining, under its capacity. */
  healthy: boolean;
}

export interface CoreStatus {
  id: string;
  region: string;
  url: string;
  /** Edges connected to it. */
  uplinks: number;
  /** Messages it sequenced, and message frames it sent to edges. */
  published: number;
  routed: number;
}

/** A tunnel as one node carries it (docs/protocol.md §8): a core sees every stream that crosses it. */
export interface TunnelStatus {
  name: string;
  /** The edge that dials its service; '' when the core does. */
  at: string;
  /** Streams open at this node now. */
  streams: number;
  /** Bytes this node carried toward the service and back, since it started. */
  toService: number;
  fromService: number;
}

/** The answer of GET /v1/mesh: what the answering node (`via`) knows, at `at` (ms since the epoch). */
export interface MeshSnapshot {
  via: string;
  at: number;
  cores: CoreStatus[];
  edges: EdgeStatus[];
  /** The mesh's tunnels, with the streams and bytes the answering node carries. */
  tunnels: TunnelStatus[];
}

export type EdgeReportRow = [string, boolean, number, number, number, number, number, number];
/** [id, region, core, ...report]: an edge as the core it is connected to lists it. */
export type EdgeRow = [string, string, string, ...EdgeReportRow];
export type CoreRow = [string, string, string, number, number, number];

/** What one core knows: itself and the edges connected to it. Cores sharing an engine exchange these. */
export interface CoreMeshShare {
  core: CoreRow;
  edges: EdgeRow[];
}

/** An edge with no clients, topics or traffic (yet): what is reported before anything is known. */
export function idleReport(url: string): EdgeReport {
  return { url, draining: false, sessions: 0, capacity: 0, topics: 0, deliveries: 0, messagesIn: 0, published: 0 };
}

export function edgeReportRow(report: EdgeReport): EdgeReportRow {
  return [
    report.url,
    report.draining,
    report.sessions,
    report.capacity,
    report.topics,
    report.deliveries,
    report.messagesIn,
    report.published,
  ];
}

export function edgeReportOf(row: readonly unknown[]): EdgeReport {
  const [url, draining, sessions, capacity, topics, deliveries, messagesIn, published] = row as EdgeReportRow;
  return { url, draining, sessions, capacity, topics, deliveries, messagesIn, published };
}

export function edgeRow(id: string, region: string, core: string, report: EdgeReport): EdgeRow {
  return [id, region, core, ...edgeReportRow(report)];
}

/** An edge as a core lists it: connected to that core, so healthy unless draining or full. */
export function edgeStatusOf(row: EdgeRow): EdgeStatus {
  const report = edgeReportOf(row.slice(3));
  return { id: row[0], region: row[1], core: row[2], healthy: isHealthy(report, true), ...report };
}

export function coreRow(core: CoreStatus): CoreRow {
  return [core.id, core.region, core.url, core.uplinks, core.published, core.routed];
}

export function coreStatusOf([id, region, url, uplinks, published, routed]: CoreRow): CoreStatus {
  return { id, region, url, uplinks, published, routed };
}

/** The first view of the mesh for which `predicate` holds, as it changes (`watch` is a node's view); rejects after `timeoutMs`. */
export function meshUntil(
  watch: Condition<MeshSnapshot>,
  predicate: (snapshot: MeshSnapshot) => boolean,
  timeoutMs = 10_000,
): Promise<MeshSnapshot> {
  return watch.until(
    predicate,
    timeoutMs,
    () => new Error(`the mesh view did not reach the expected state within ${timeoutMs} ms`),
  );
}

export function isHealthy(report: EdgeReport, uplinkUp: boolean): boolean {
  return uplinkUp && !report.draining && report.sessions < report.capacity;
}

/** Client deliveries per message received from the core: how much the edge multiplies each WAN message. */
export function amplification(edge: Pick<EdgeReport, 'deliveries' | 'messagesIn'>): number {
  return edge.messagesIn === 0 ? 0 : edge.deliveries / edge.messagesIn;
}

// Shape checks for the uplink frame checker: the fields after the frame type.
const str = (v: unknown): boolean => typeof v === 'string';
const uint = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const bool = (v: unknown): boolean => typeof v === 'boolean';
const reportShape = [isNodeUrl, bool, uint, uint, uint, uint, uint, uint];

/** Longest node URL taken from the uplink: a topology URL is far shorter. */
const maxUrlLength = 2048;

/**
 * A node's base URL as it may travel in a report and end up in a `Location` header: ws[s]:// with a host, no
 * whitespace or control characters (a CR/LF would split the header).
 */
export function isNodeUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > maxUrlLength || !/^wss?:\/\/[^\s\x00-\x1f\x7f]+$/.test(value))
    return false;
  try {
    return new URL(value).host !== '';
  } catch {
    return false;
  }
}

export function isEdgeReportRow(value: unknown): boolean {
  return (
    Array.isArray(value) && value.length === reportShape.length && reportShape.every((check, i) => check(value[i]))
  );
}

export function isEdgeRow(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.length === reportShape.length + 3 &&
    str(value[0]) &&
    str(value[1]) &&
    str(value[2]) &&
    isEdgeReportRow(value.slice(3))
  );
}

export function isCoreShare(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { core, edges } = value as Partial<CoreMeshShare>;
  return isCoreRow(core) && Array.isArray(edges) && edges.every(isEdgeRow);
}

export function isCoreRow(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.length === 6 &&
    str(value[0]) &&
    str(value[1]) &&
    str(value[2]) &&
    uint(value[3]) &&
    uint(value[4]) &&
    uint(value[5])
  );
}
