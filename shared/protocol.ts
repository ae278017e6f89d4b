// Wire types: the client protocol (docs/protocol.md §2), and the uplink's version and paths (its frames are in
// shared/uplink-frames.ts, re-exported here).

import type { ErrorCode } from './errors.js';

/**
 * The uplink protocol this code speaks: 2 added the mesh view (`edgeStatus`, `meshView`), 3 the `cancel` of a replay,
 * 4 tunnel streams, on a second connection of their own (`tunnelLinkPath`), 5 presence (members, queries, join and
 * leave events), 6 hubs (`pubFrom`, `meshEdges`: what an edge relays for the edges behind it). Older edges open no
 * tunnel link and report no members.
 */
export const protocolVersion = 6;
/** The first version whose edges carry tunnel streams. */
export const streamsProtocolVersion = 4;
/**
 * The oldest edge a core accepts: a version-1 edge sends no status and, as it never reports, is sent no mesh view,
 * so cores can be upgraded before their edges.
 */
export const oldestEdgeProtocolVersion = 1;

export interface Position {
  epoch: string;
  offset: number;
}

export type RequestId = number | string;

// ── Client → server ──────────────────────────────────────────────────────────

export interface ConnectOp {
  op: 'connect';
  token?: string;
  id?: RequestId;
}
export interface SubOp {
  op: 'sub';
  id?: RequestId;
  topic: string;
  since?: Position;
  /** Also receive `join` / `leave` as other sessions subscribe to the topic and go (docs/protocol.md §9). */
  joinLeave?: boolean;
}
export interface UnsubOp {
  op: 'unsub';
  id?: RequestId;
  topic: string;
}
export interface PubOp {
  op: 'pub';
  id?: RequestId;
  topic: string;
  data: unknown;
}
export interface PingOp {
  op: 'ping';
  id?: RequestId;
}

export interface PresenceOp {
  op: 'presence';
  id?: RequestId;
  topic: string;
}

export type ClientOp = ConnectOp | SubOp | UnsubOp | PubOp | PingOp | PresenceOp;
export type ClientOpName = ClientOp['op'];
export const clientOpNames: readonly ClientOpName[] = ['connect', 'sub', 'unsub', 'pub', 'ping', 'presence'];

// ── Server → client ──────────────────────────────────────────────────────────

export interface WelcomeOp {
  op: 'welcome';
  id?: RequestId;
  session: string;
  edge: string;
  region: string;
  heartbeatMs: number;
}
export interface SubokOp {
  op: 'subok';
  id?: RequestId;
  topic: string;
  epoch?: string;
  offset?: number;
  recovered: boolean;
}
export interface UnsubokOp {
  op: 'unsubok';
  id?: RequestId;
}
export interface PubackOp {
  op: 'puback';
  id?: RequestId;
  epoch: string;
  offset: number;
}
export interface PongOp {
  op: 'pong';
  id?: RequestId;
}
export interface MsgOp {
  op: 'msg';
  topic: string;
  epoch: string;
  offset: number;
  data: unknown;
  enc?: 'base64';
}
export interface ResetOp {
  op: 'reset';
  topic: string;
  epoch: string;
  offset: number;
}
export interface ErrorOp {
  op: 'error';
  id?: RequestId;
  code: ErrorCode;
  message: string;
}
export interface RedirectOp {
  op: 'redirect';
  url: string;
  reason: string;
}

/** A session present on a topic: it holds an exact subscription to it. */
export interface PresenceMember {
  session: string;
  /** The token's `sub` (or the connect hook's `user`); absent for anonymous sessions. */
  user?: string;
  /** The id of the member's edge. */
  edge: string;
}
/** A member as the protocol shows it: `user` only when it has one ('' on the uplink means none). */
export function presenceMember(session: string, user: string | undefined, edge: string): PresenceMember {
  return user ? { session, user, edge } : { session, edge };
}

/** Who is present on a topic: every member counted, at most maxPresenceMembers listed. */
export interface PresenceAnswer {
  count: number;
  members: PresenceMember[];
}
/** Members listed in a presence answer at most; `count` is exact beyond it. */
export const maxPresenceMembers = 1000;

export interface PresenceokOp {
  op: 'presenceok';
  id?: RequestId;
  topic: string;
  count: number;
  members: PresenceMember[];
}
export interface JoinOp extends PresenceMember {
  op: 'join';
  topic: string;
}
export interface LeaveOp extends PresenceMember {
  op: 'leave';
  topic: string;
}

export type ServerOp =
  | WelcomeOp
  | SubokOp
  | UnsubokOp
  | PubackOp
  | PongOp
  | MsgOp
  | ResetOp
  | ErrorOp
  | RedirectOp
  | PresenceokOp
  | JoinOp
  | LeaveOp;
export const serverOpNames: readonly ServerOp['op'][] = [
  'welcome',
  'subok',
  'unsubok',
  'puback',
  'pong',
  'msg',
  'reset',
  'error',
  'redirect',
  'presenceok',
  'join',
  'leave',
];

export type ClientFormat = 'json' | 'msgpack';
export const subprotocols: Record<ClientFormat, string> = {
  json: 'relaymesh.v1.json',
  msgpack: 'relaymesh.v1.msgpack',
};

// ── Uplink frames (internal): shared/uplink-frames.ts ───────────────────────

export { frameType, type CoreFrame, type EdgeFrame, type FrameOf, type UplinkFrame } from './uplink-frames.js';

/** The uplink's WebSocket path on a core. */
export const uplinkPath = '/v1/uplink';
/**
 * The tunnel link's: an edge's second connection to the core its uplink is on, carrying tunnel streams only, so bulk
 * bytes queue in a socket of their own and never ahead of pub/sub (shared/stream-mux.ts).
 */
export const tunnelLinkPath = '/v1/uplink/tunnels';
/** The client WebSocket path on an edge. */
export const clientPath = '/v1/ws';
/** Tunnels by WebSocket: `${tunnelPathPrefix}<name>` (docs/protocol.md §8). */
export const tunnelPathPrefix = '/v1/tunnel/';

/** A node's HTTP base for its API (`http[s]://host:port`), from its URL as the topology gives it (`ws[s]://…`). */
export function httpBaseOf(url: string): string {
  return url.replace(/^ws/, 'http').replace(/\/+$/, '');
}
