// The internal edge↔core uplink frames, each layout written once: a table per sending side maps a frame's number to
// a check per field, and both the frame's TypeScript type and the decoder's shape check come from that table. The
// uplink is a stream of msgpack arrays whose first element is the frame's number; several ride in one WebSocket message.

import { isErrorCode, type ErrorCode } from './errors.js';
import {
  isCoreRow,
  isEdgeReportRow,
  isEdgeRow,
  type CoreRow,
  type EdgeReportRow,
  type EdgeRow,
} from './mesh-status.js';

export const frameType = {
  hello: 1,
  welcome: 2,
  sub: 3,
  subok: 4,
  unsub: 5,
  pub: 6,
  puback: 7,
  msg: 8,
  history: 9,
  replay: 10,
  historyEnd: 11,
  error: 12,
  digest: 13,
  digestMismatch: 14,
  challenge: 15,
  edgeStatus: 16,
  meshView: 17,
  cancel: 18,
  streamOpen: 19,
  streamData: 20,
  streamWindow: 21,
  streamEnd: 22,
  streamReset: 23,
  presenceJoin: 24,
  presenceLeave: 25,
  presenceSynced: 26,
  presenceQuery: 27,
  presenceWatch: 28,
  presenceAnswer: 29,
  presenceEvent: 30,
  pubFrom: 31,
  meshEdges: 32,
} as const;

/**
 * Why a tunnel stream was reset: its service refused or did not answer (`refused`), the path through the mesh went
 * (`lost`), an end point aborted it (`aborted`), a limit refused it (`limit`), a draining node refused it
 * (`draining`), or its reader fell so far behind that the uplink's tunnel buffer was full (`slow`).
 */
export const streamResetReasons = ['refused', 'lost', 'aborted', 'limit', 'draining', 'slow'] as const;
export type StreamResetReason = (typeof streamResetReasons)[number];

/** A field's check, which also names the field's type. */
type Check<T> = (value: unknown) => value is T;

const str: Check<string> = (v): v is string => typeof v === 'string';
const uint: Check<number> = (v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const bool: Check<boolean> = (v): v is boolean => typeof v === 'boolean';
const bytes: Check<Uint8Array> = (v): v is Uint8Array => v instanceof Uint8Array;
const since: Check<[epoch: string, offset: number] | null> = (v): v is [string, number] | null =>
  v === null || (Array.isArray(v) && v.length === 2 && str(v[0]) && uint(v[1]));
const code: Check<ErrorCode> = isErrorCode;
const strings: Check<string[]> = (v): v is string[] => Array.isArray(v) && v.every(str);
const report: Check<EdgeReportRow> = (v): v is EdgeReportRow => isEdgeReportRow(v);
const coreRows: Check<CoreRow[]> = (v): v is CoreRow[] => Array.isArray(v) && v.every(isCoreRow);
const edgeRows: Check<EdgeRow[]> = (v): v is EdgeRow[] => Array.isArray(v) && v.every(isEdgeRow);
const memberRows: Check<Array<[session: string, user: string, edge: string]>> = (
  v,
): v is Array<[string, string, string]> =>
  Array.isArray(v) && v.every((row) => Array.isArray(row) && row.length === 3 && row.every(str));
const resetReason: Check<StreamResetReason> = (v): v is StreamResetReason =>
  (streamResetReasons as readonly unknown[]).includes(v);

/**
 * Tunnel streams (docs/protocol.md §8), the same frames both ways. Ids are the opener's: odd from an edge, even from
 * a core, each side's increasing. Every stream starts with a window of `streamWindowBytes` each way; data beyond the
 * window, or after the sender's end, is a protocol violation (shared/stream-mux.ts).
 */
const streamFrameFields = {
  /** [streamOpen, id, tunnel]: a new stream to the tunnel's service; data may follow at once. */
  [frameType.streamOpen]: [uint, str],
  /** [streamData, id, bytes]: at least one byte, within the window the receiver has granted. */
  [frameType.streamData]: [uint, bytes],
  /**
   * [streamWindow, id, increment]: the sender may send `increment` more bytes: what the receiver passed on, and more
   * when it widens the window (never past `streamMaxWindowBytes` of credit).
   */
  [frameType.streamWindow]: [uint, uint],
  /** [streamEnd, id]: the sender will send no more (a TCP half-close), after every byte it sent before. */
  [frameType.streamEnd]: [uint],
  /** [streamReset, id, reason]: the stream is over both ways, at once; bytes still on their way are dropped. */
  [frameType.streamReset]: [uint, resetReason],
} as const;

/** What an edge sends: the fields after the frame's number. Requests carry a numeric id of the edge's; the core echoes it. */
export const edgeFrameFields = {
  /**
   * First frame: [hello, protocolVersion, edgeId, region, instance, proof]. `instance` is random per edge process:
   * with a `pub` id it names a publish, so the core can answer a resent publish without sequencing it twice; and only
   * that process can show it again. `proof` answers the core's `challenge` (shared/edge-proof.ts); '' without a secret.
   */
  [frameType.hello]: [uint, str, str, str, str],
  /** [sub, id, subscription, since: [epoch, offset] | null] */
  [frameType.sub]: [uint, str, since],
  /** [unsub, subscription] */
  [frameType.unsub]: [str],
  /** [pub, id, topic, data] */
  [frameType.pub]: [uint, str, bytes],
  /** [history, id, topic, epoch, fromOffset, toOffset] */
  [frameType.history]: [uint, str, str, uint, uint],
  /** Periodically: [digest, count, sum, xor] of the edge's subscriptions (shared/interest-digest.ts). */
  [frameType.digest]: [uint, uint, uint],
  /**
   * At welcome, on a change (drain) and periodically: [edgeStatus, EdgeReportRow]: its client URL (which a core that
   * knows the topology ignores), draining, sessions, capacity, topics and counters (shared/mesh-status.ts).
   */
  [frameType.edgeStatus]: [report],
  /** [cancel, id]: the `history` request `id` is no longer wanted (its client left): stop replaying it. */
  [frameType.cancel]: [uint],
  /**
   * Presence (docs/protocol.md §9): [presenceJoin, topic, session, user ('' for none), known] when a session
   * subscribes to a topic exactly, [presenceLeave, topic, session, user] when it no longer does. After a (re)connect
   * the edge sends a join for every member it holds (`known`: a core heard of it before, so it was announced), a leave
   * for each that left while no core heard, then [presenceSynced]: members the core kept for it and not sent again
   * have left.
   */
  [frameType.presenceJoin]: [str, str, str, bool],
  [frameType.presenceLeave]: [str, str, str],
  [frameType.presenceSynced]: [],
  /** [presenceQuery, id, topic]: answered with `presenceAnswer`, or `error`. */
  [frameType.presenceQuery]: [uint, str],
  /** [presenceWatch, topic, on]: some local subscriber wants `join` / `leave` of the topic (on), or none any more. */
  [frameType.presenceWatch]: [str, bool],
  /**
   * A hub relays a publish of an edge behind it: [pubFrom, id, topic, data, origin], where `origin` is the
   * de-duplication identity that edge's own core would give it (`edge:instance:publishId`). A resend reaching the core
   * by another path (the edge failed over straight to the core) is then recognised and not sequenced twice.
   */
  [frameType.pubFrom]: [uint, str, bytes, str],
  /** A hub's view of the edges behind it, at every status period: [meshEdges, EdgeRow[]]; the core lists them. */
  [frameType.meshEdges]: [edgeRows],
  ...streamFrameFields,
} as const;

/** What a core sends: the fields after the frame's number. */
export const coreFrameFields = {
  /** [welcome, coreId] */
  [frameType.welcome]: [str],
  /**
   * [subok, id, epoch, offset, recovered], after one `replay` frame per message in (since, offset] when recovered.
   * Live `msg` frames of the topic may arrive before it: the edge holds them until it comes. Recovered with an epoch
   * other than `since`'s: the stream was lost (a restarted core) and the replay holds the whole new stream from
   * offset 1, so the edge resets its clients to its start and delivers all of it. Replay frames followed by
   * `recovered: false` are to be dropped (the replay outgrew its bound, or history went meanwhile).
   */
  [frameType.subok]: [uint, str, uint, bool],
  /** [puback, id, epoch, offset] */
  [frameType.puback]: [uint, str, uint],
  /** [msg, topic, epoch, offset, data] */
  [frameType.msg]: [str, str, uint, bytes],
  /** [replay, id, offset, data], one per message of a `sub` or `history` answer, before its end. */
  [frameType.replay]: [uint, uint, bytes],
  /** [historyEnd, id, recovered]: recovered false means the range is gone (or too large), and its replay is to be dropped. */
  [frameType.historyEnd]: [uint, bool],
  /** [error, id, code, message] */
  [frameType.error]: [uint, code, str],
  /** When a digest differs: [digestMismatch, the subscriptions the core holds for the edge]. */
  [frameType.digestMismatch]: [strings],
  /**
   * First frame when the core checks edge identity: [challenge, nonce]. An edge with a secret sends its hello only
   * after it, with proof = HMAC-SHA256(secret, `${nonce}:${edgeId}:${instance}`) in base64url.
   */
  [frameType.challenge]: [str],
  /** When the mesh changes: [meshView, CoreRow[], EdgeRow[]]: the cores and edges the core knows. */
  [frameType.meshView]: [coreRows, edgeRows],
  /** [presenceAnswer, id, count, members (at most maxPresenceMembers): [session, user or '', edge]] */
  [frameType.presenceAnswer]: [uint, uint, memberRows],
  /** [presenceEvent, topic, joined, session, user or '', edge], to edges that watch the topic. */
  [frameType.presenceEvent]: [str, bool, str, str, str],
  ...streamFrameFields,
} as const;

type FieldTable = Readonly<Record<number, readonly Check<unknown>[]>>;
type Fields<Checks> = { -readonly [I in keyof Checks]: Checks[I] extends Check<infer T> ? T : never };
type FramesOf<Table> = {
  [K in keyof Table]: Fields<Table[K]> extends infer F extends unknown[] ? [K, ...F] : never;
}[keyof Table];

export type EdgeFrame = FramesOf<typeof edgeFrameFields>;
export type CoreFrame = FramesOf<typeof coreFrameFields>;
export type UplinkFrame = EdgeFrame | CoreFrame;
/** The frame of one number, from either side. */
export type FrameOf<K extends UplinkFrame[0]> = Extract<UplinkFrame, [K, ...unknown[]]>;

/**
 * Checks a decoded value against the frames one side sends, so handlers can trust every field's type; a frame of
 * the other side is as wrong as garbage. Returns the reason it is not one, or undefined.
 */
export function frameProblem(value: unknown, table: FieldTable): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return 'uplink frame is not an array';
  const type: unknown = value[0];
  // Only own numeric keys: `constructor` or `toString` must not look like a frame type.
  if (typeof type !== 'number') return `unexpected uplink frame type (${typeof type})`;
  const fields = Object.hasOwn(table, type) ? table[type] : undefined;
  if (!fields) return `unexpected uplink frame type (${type})`;
  if (value.length !== fields.length + 1)
    return `uplink frame ${type} has ${value.length - 1} fields, expected ${fields.length}`;
  for (let i = 0; i < fields.length; i++) {
    if (!fields[i]!(value[i + 1])) return `uplink frame ${type} has a bad field ${i + 1}`;
  }
  return undefined;
}
