// Presence on an edge (docs/protocol.md §9): the sessions here that hold an exact subscription to a topic, reported to
// the core as they come and go (and all of them again after each reconnect), the local subscribers that want `join` /
// `leave` of a topic, and `presence` questions, which the core answers for the whole mesh.

import { RelayError } from '../shared/errors.js';
import type { EdgeFrame, PresenceAnswer, ServerOp } from '../shared/protocol.js';
import { frameType } from '../shared/protocol.js';

/** What presence needs of the uplink (edge/uplink.ts). */
export interface PresenceUplink {
  readonly connected: boolean;
  /** Sends a presence frame now (dropped while disconnected: everything is reported again on connect). */
  sendPresence(frame: EdgeFrame): void;
  /** The core's answer for `topic`, waiting up to `holdMs` for a down uplink. */
  queryPresence(topic: string, holdMs: number): Promise<PresenceAnswer>;
}

/** A local subscriber that asked for `join` / `leave` (its session's transport). */
export interface PresenceListener {
  sendOp(op: ServerOp): void;
}

/** Questions waiting for the core at once, edge-wide; more are answered `unavailable`. */
const maxPendingQueries = 10_000;

export class EdgePresence {
  /** Topic → session → user ('' for none). */
  private readonly members = new Map<string, Map<string, string>>();
  private readonly listeners = new Map<string, Set<PresenceListener>>();
  private pendingQueries = 0;

  constructor(
    private readonly uplink: PresenceUplink,
    private readonly holdMs: number,
  ) {}

  /** Sessions present on some topic, counted once per topic. */
  get memberCount(): number {
    let count = 0;
    for (const sessions of this.members.values()) count += sessions.size;
    return count;
  }

  join(topic: string, session: string, user: string): void {
    let sessions = this.members.get(topic);
    if (!sessions) this.members.set(topic, (sessions = new Map()));
    sessions.set(session, user);
    this.uplink.sendPresence([frameType.presenceJoin, topic, session, user]);
  }

  leave(topic: string, session: string): void {
    const sessions = this.members.get(topic);
    if (!sessions?.delete(session)) return;
    if (sessions.size === 0) this.members.delete(topic);
    this.uplink.sendPresence([frameType.presenceLeave, topic, session]);
  }

  listen(topic: string, listener: PresenceListener): void {
    let set = this.listeners.get(topic);
    if (!set) {
      this.listeners.set(topic, (set = new Set()));
      this.uplink.sendPresence([frameType.presenceWatch, topic, true]);
    }
    set.add(listener);
  }

  unlisten(topic: string, listener: PresenceListener): void {
    const set = this.listeners.get(topic);
    if (!set?.delete(listener) || set.size > 0) return;
    this.listeners.delete(topic);
    this.uplink.sendPresence([frameType.presenceWatch, topic, false]);
  }

  /** The uplink is (back): the core hears every member and watch again, then that the report is whole. */
  onUplinkConnected(): void {
    for (const [topic, sessions] of this.members)
      for (const [session, user] of sessions) this.uplink.sendPresence([frameType.presenceJoin, topic, session, user]);
    this.uplink.sendPresence([frameType.presenceSynced]);
    for (const topic of this.listeners.keys()) this.uplink.sendPresence([frameType.presenceWatch, topic, true]);
  }

  /** A member joined or left a topic somewhere in the mesh: its local listeners are told. */
  onEvent(topic: string, joined: boolean, session: string, user: string, edge: string): void {
    const set = this.listeners.get(topic);
    if (!set) return;
    const op: ServerOp = { op: joined ? 'join' : 'leave', topic, session, ...(user ? { user } : {}), edge };
    for (const listener of set) listener.sendOp(op);
  }

  async query(topic: string): Promise<PresenceAnswer> {
    if (this.pendingQueries >= maxPendingQueries)
      throw new RelayError('unavailable', 'too many presence questions waiting for the core; ask again later');
    this.pendingQueries++;
    try {
      return await this.uplink.queryPresence(topic, this.holdMs);
    } finally {
      this.pendingQueries--;
    }
  }
}
