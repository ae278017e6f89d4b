// Wire types: the client protocol (PROTOCOL.md §2) and the internal edge↔core uplink frames.
// The uplink is a stream of msgpack arrays whose first element names the frame; several ride in one WebSocket message.

import type { ErrorCode } from './errors.js';
import type { CoreRow, EdgeReportRow, EdgeRow } from './mesh-status.js';

/** The uplink protocol this code speaks: 2 added the mesh view (`edgeStatus`, `meshView`), 3 the `cancel` of a replay. */
export const protocolVersion = 3;
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

export interface ConnectOp { op: 'connect'; token?: string; id?: RequestId }
export interface SubOp { op: 'sub'; id?: RequestId; topic: string; since?: Position }
export interface UnsubOp { op: 'unsub'; id?: RequestId; topic: string }
export interface PubOp { op: 'pub'; id?: RequestId; topic: string; data: unknown }
export interface PingOp { op: 'ping'; id?: RequestId }

export type ClientOp = ConnectOp | SubOp | UnsubOp | PubOp | PingOp;
export type ClientOpName = ClientOp['op'];
export const clientOpNames: readonly ClientOpName[] = ['connect', 'sub', 'unsub', 'pub', 'ping'];

// ── Server → client ──────────────────────────────────────────────────────────

export interface WelcomeOp { op: 'welcome'; id?: RequestId; session: string; edge: string; region: string; heartbeatMs: number }
export interface SubokOp { op: 'subok'; id?: RequestId; topic: string; epoch?: string; offset?: number; recovered: boolean }
export interface UnsubokOp { op: 'unsubok'; id?: RequestId }
export interface PubackOp { op: 'puback'; id?: RequestId; epoch: string; offset: number }
export interface PongOp { op: 'pong'; id?: RequestId }
export interface MsgOp { op: 'msg'; topic: string; epoch: string; offset: number; data: unknown; enc?: 'base64' }
export interface ResetOp { op: 'reset'; topic: string; epoch: string; offset: number }
export interface ErrorOp { op: 'error'; id?: RequestId; code: ErrorCode; message: string }
export interface RedirectOp { op: 'redirect'; url: string; reason: string }

export type ServerOp = WelcomeOp | SubokOp | UnsubokOp | PubackOp | PongOp | MsgOp | ResetOp | ErrorOp | RedirectOp;

export type ClientFormat = 'json' | 'msgpack';
export const subprotocols: Record<ClientFormat, string> = {
  json: 'relaymesh.v1.json',
  msgpack: 'relaymesh.v1.msgpack',
};

// ── Uplink frames (internal) ─────────────────────────────────────────────────
// Requests carry a numeric id chosen by the edge; the core echoes it.

export const frameType = {
  /**
   * edge → core, first frame: [hello, protocolVersion, edgeId, region, instance, proof]. `instance` is random per edge
   * process: with a `pub` id it names a publish, so the core can answer a resent publish without sequencing it twice.
   * `proof` answers the core's `challenge` (shared/edge-proof.ts); '' from an edge without a secret.
   */
  hello: 1,
  /** core → edge: [welcome, coreId] */
  welcome: 2,
  /** edge → core: [sub, id, subscription, since: [epoch, offset] | null] */
  sub: 3,
  /**
   * core → edge: [subok, id, epoch, offset, recovered], after one `replay` frame per message in (since, offset]
   * when recovered. Live `msg` frames of the topic may arrive before it: the edge holds them until it comes.
   * Recovered with an epoch other than `since`'s: the stream was lost (a restarted core) and the replay holds the
   * whole new stream from offset 1, so the edge resets its clients to its start and delivers all of it. Replay frames
   * followed by `recovered: false` are to be dropped (the replay outgrew its bound, or history went meanwhile).
   */
  subok: 4,
  /** edge → core: [unsub, subscription] */
  unsub: 5,
  /** edge → core: [pub, id, topic, data] */
  pub: 6,
  /** core → edge: [puback, id, epoch, offset] */
  puback: 7,
  /** core → edge: [msg, topic, epoch, offset, data] */
  msg: 8,
  /** edge → core: [history, id, topic, epoch, fromOffset, toOffset] */
  history: 9,
  /** core → edge: [replay, id, offset, data], one per message of a `sub` or `history` answer, before its end */
  replay: 10,
  /** core → edge: [historyEnd, id, recovered]; recovered false means the range is gone and no replay was sent */
  historyEnd: 11,
  /** core → edge: [error, id, code, message] */
  error: 12,
  /** edge → core, periodically: [digest, count, sum, xor] of the edge's subscriptions (shared/interest-digest.ts) */
  digest: 13,
  /** core → edge, when a digest differs: [digestMismatch, subscriptions the core holds for the edge] */
  digestMismatch: 14,
  /**
   * core → edge, first frame when the core checks edge identity: [challenge, nonce]. An edge with a secret sends its
   * hello only after it, with proof = HMAC-SHA256(secret, `${nonce}:${edgeId}:${instance}`) in base64url.
   */
  challenge: 15,
  /**
   * edge → core, at welcome, on a change (drain) and periodically: [edgeStatus, EdgeReportRow] — its client URL,
   * draining, sessions, capacity, topics and counters (shared/mesh-status.ts), so the core knows where clients can go.
   */
  edgeStatus: 16,
  /**
   * core → edge, when the mesh changes: [meshView, CoreRow[], EdgeRow[]] — the cores and edges the core knows: its own
   * edges, and those of the cores it shares an engine with.
   */
  meshView: 17,
  /** edge → core: [cancel, id] — the `history` request `id` is no longer wanted (its client left): stop replaying it. */
  cancel: 18,
} as const;

export type HelloFrame = [typeof frameType.hello, number, string, string, string, string];
export type WelcomeFrame = [typeof frameType.welcome, string];
export type SubFrame = [typeof frameType.sub, number, string, [string, number] | null];
export type SubokFrame = [typeof frameType.subok, number, string, number, boolean];
export type UnsubFrame = [typeof frameType.unsub, string];
export type PubFrame = [typeof frameType.pub, number, string, Uint8Array];
export type PubackFrame = [typeof frameType.puback, number, string, number];
export type MsgFrame = [typeof frameType.msg, string, string, number, Uint8Array];
export type HistoryFrame = [typeof frameType.history, number, string, string, number, number];
export type ReplayFrame = [typeof frameType.replay, number, number, Uint8Array];
export type HistoryEndFrame = [typeof frameType.historyEnd, number, boolean];
export type ErrorFrame = [typeof frameType.error, number, ErrorCode, string];
export type DigestFrame = [typeof frameType.digest, number, number, number];
export type DigestMismatchFrame = [typeof frameType.digestMismatch, string[]];
export type ChallengeFrame = [typeof frameType.challenge, string];
export type EdgeStatusFrame = [typeof frameType.edgeStatus, EdgeReportRow];
export type MeshViewFrame = [typeof frameType.meshView, CoreRow[], EdgeRow[]];
export type CancelFrame = [typeof frameType.cancel, number];

export type EdgeFrame = HelloFrame | SubFrame | UnsubFrame | PubFrame | HistoryFrame | DigestFrame | EdgeStatusFrame | CancelFrame;
export type CoreFrame = WelcomeFrame | SubokFrame | PubackFrame | MsgFrame | ReplayFrame | HistoryEndFrame | ErrorFrame | DigestMismatchFrame | ChallengeFrame | MeshViewFrame;
export type UplinkFrame = EdgeFrame | CoreFrame;

/** The uplink's WebSocket path on a core. */
export const uplinkPath = '/v1/uplink';
/** The client WebSocket path on an edge. */
export const clientPath = '/v1/ws';

/** A node's HTTP base for its API (`http[s]://host:port`), from its URL as the topology gives it (`ws[s]://…`). */
export function httpBaseOf(url: string): string {
  return url.replace(/^ws/, 'http').replace(/\/+$/, '');
}
