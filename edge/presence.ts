// Presence on an edge (docs/protocol.md §9): the sessions here that hold an exact subscription to a topic, reported to
// the core as they come and go (and all of them again after each reconnect), the local subscribers that want `join` /
// `leave` of a topic, and `presence` questions, which the core answers for the whole mesh.

import { RelayError } from '../shared/errors.js';
import type { EdgeFrame, PresenceAnswer, PresenceMember, ServerOp } from '../shared/protocol.js';
import { frameType, presenceMember } from '../shared/protocol.js';
import { WaitingQuota } from './waiting-quota.js';

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

/** Questions waiting for the core at once, edge-wide, and those of one client address; more are `unavailable`. */
const maxPendingQuestions = 10_000;
const maxPendingQuestionsPerAddress = 256;

/** A session present on a topic: [topic, session, user ('' for none)]. */
export type PresentMember = [topic: string, session: string, user: string];

export class EdgePresence {
  /** Members that joined while the uplink was down, which no core has heard of yet (by topic). */
  private unreported = new Map<string, Set<string>>();
  /** Members that left while the uplink was down after a core had heard of them: their leave goes on reconnect. */
  private leftUnreported = new Map<string, Map<string, string>>();
  private readonly listeners = new Map<string, Set<PresenceListener>>();
  /**
   * For each topic with listeners, its members as this edge last learned them (the core's answer, then its events), so
   * that after an uplink outage the listeners hear what changed meanwhile; undefined while unknown or too many to list.
   */
  private readonly views = new Map<string, Map<string, PresenceMember> | undefined>();
  /** One question per topic on the uplink at a time, whoever asks: a crowd asking costs the core one answer. */
  private readonly asking = new Map<string, Promise<PresenceAnswer>>();
  private readonly waiting = new WaitingQuota(maxPendingQuestions, maxPendingQuestionsPerAddress);

  constructor(
    private readonly uplink: PresenceUplink,
    private readonly holdMs: number,
    /**
     * The members here now, for the report after a reconnect: read from the subscriptions themselves (the interest
     * table), as a copy of them would cost a map entry per subscribed client.
     */
    private readonly members: () => Iterable<PresentMember>,
  ) {}

  join(topic: string, session: string, user: string): void {
    if (this.uplink.connected) return this.uplink.sendPresence([frameType.presenceJoin, topic, session, user, false]);
    // Back before any core heard it go: for the mesh it never left.
    if (this.leftUnreported.get(topic)?.delete(session)) return;
    let waiting = this.unreported.get(topic);
    if (!waiting) this.unreported.set(topic, (waiting = new Set()));
    waiting.add(session);
  }

  /** Only for a session that joined (its exact subscription was answered). */
  leave(topic: string, session: string, user: string): void {
    if (this.uplink.connected) return this.uplink.sendPresence([frameType.presenceLeave, topic, session, user]);
    const waiting = this.unreported.get(topic);
    if (waiting?.delete(session)) {
      if (waiting.size === 0) this.unreported.delete(topic);
      return;
    }
    let left = this.leftUnreported.get(topic);
    if (!left) this.leftUnreported.set(topic, (left = new Map()));
    left.set(session, user);
  }

  listen(topic: string, listener: PresenceListener): void {
    let set = this.listeners.get(topic);
    if (!set) {
      this.listeners.set(topic, (set = new Set()));
      this.views.set(topic, undefined);
      this.uplink.sendPresence([frameType.presenceWatch, topic, true]);
      void this.learn(topic, false);
    }
    set.add(listener);
  }

  unlisten(topic: string, listener: PresenceListener): void {
    const set = this.listeners.get(topic);
    if (!set?.delete(listener) || set.size > 0) return;
    this.listeners.delete(topic);
    this.views.delete(topic);
    this.uplink.sendPresence([frameType.presenceWatch, topic, false]);
  }

  /**
   * The uplink is (back): the core hears every member (`known`: already announced through a core before, so not to be
   * announced again), the leaves it missed, then that the report is whole; then every watch, and the listeners learn
   * what changed while the uplink was down.
   */
  onUplinkConnected(): void {
    for (const [topic, session, user] of this.members())
      this.uplink.sendPresence([
        frameType.presenceJoin,
        topic,
        session,
        user,
        !this.unreported.get(topic)?.has(session),
      ]);
    this.unreported = new Map();
    for (const [topic, left] of this.leftUnreported)
      for (const [session, user] of left) this.uplink.sendPresence([frameType.presenceLeave, topic, session, user]);
    this.leftUnreported = new Map();
    this.uplink.sendPresence([frameType.presenceSynced]);
    for (const topic of this.listeners.keys()) {
      this.uplink.sendPresence([frameType.presenceWatch, topic, true]);
      void this.learn(topic, true);
    }
  }

  /** A member joined or left a topic somewhere in the mesh: its local listeners are told. */
  onEvent(topic: string, joined: boolean, session: string, user: string, edge: string): void {
    const set = this.listeners.get(topic);
    if (!set) return;
    const member = presenceMember(session, user, edge);
    const view = this.views.get(topic);
    if (joined) view?.set(session, member);
    else view?.delete(session);
    this.tell(set, topic, joined, member);
  }

  /** Who is present on `topic` across the mesh, asked by a client of `address`. */
  async query(topic: string, address: string): Promise<PresenceAnswer> {
    if (!this.waiting.take(address))
      throw new RelayError('unavailable', 'too many presence questions waiting for the core; ask again later');
    try {
      return await this.ask(topic);
    } finally {
      this.waiting.release(address);
    }
  }

  private ask(topic: string): Promise<PresenceAnswer> {
    let answer = this.asking.get(topic);
    if (!answer) {
      answer = this.uplink.queryPresence(topic, this.holdMs).finally(() => this.asking.delete(topic));
      this.asking.set(topic, answer);
    }
    return answer;
  }

  /**
   * Learns the members of a topic with listeners from the core. `tellChanges`: after an outage, the listeners hear what
   * changed since the last view (the core's answer comes after the events it reflects, on the same ordered uplink).
   */
  private async learn(topic: string, tellChanges: boolean): Promise<void> {
    let answer: PresenceAnswer | undefined;
    try {
      answer = await this.ask(topic);
    } catch {
      answer = undefined;
    }
    if (!this.views.has(topic)) return;
    const before = this.views.get(topic);
    const listed = answer && answer.count === answer.members.length;
    const fresh = listed ? new Map(answer!.members.map((member) => [member.session, member])) : undefined;
    this.views.set(topic, fresh);
    const set = this.listeners.get(topic);
    if (!tellChanges || !before || !fresh || !set) return;
    for (const [session, member] of before) if (!fresh.has(session)) this.tell(set, topic, false, member);
    for (const [session, member] of fresh) if (!before.has(session)) this.tell(set, topic, true, member);
  }

  private tell(listeners: Set<PresenceListener>, topic: string, joined: boolean, member: PresenceMember): void {
    const op: ServerOp = { op: joined ? 'join' : 'leave', topic, ...member };
    for (const listener of listeners) listener.sendOp(op);
  }
}
