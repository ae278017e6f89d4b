// Who is present on which topic, as this core knows it (docs/protocol.md §9): the members each edge reports over its
// uplink, kept for a grace period after that uplink goes, the members other cores share through the engine, and
// the `join` / `leave` events sent to the edges that watch a topic.

import { encodeFrame } from '../shared/codec.js';
import { frameType, maxPresenceMembers, type PresenceAnswer, type PresenceMember } from '../shared/protocol.js';
import { PresenceAnnouncer } from './presence-announcer.js';

/** An edge that wants a topic's `join` / `leave` (its uplink). */
export interface PresenceWatcher {
  deliver(frame: Buffer, frameClass: 'message'): void;
}

/** A member as stored: its user ('' for none) and edge. */
export interface StoredMember {
  user: string;
  edge: string;
}

/** Members of other cores, shared through the engine (core/redis-presence.ts); absent with a core of its own. */
export interface PresenceShare {
  /** This core's member joined or left `topic`. */
  changed(topic: string, session: string, member: StoredMember, joined: boolean): void;
  /** ... and the other cores' watchers are to be told (within the topic's budget, which this core keeps). */
  announce(topic: string, session: string, member: StoredMember, joined: boolean): void;
  /** The members of `topic` that the other cores hold. */
  othersOf(topic: string): Promise<Map<string, StoredMember>>;
  /** Another core's member joined or left `topic`, announced. */
  onEvent(listener: (topic: string, session: string, member: StoredMember, joined: boolean) => void): void;
}

export interface PresenceBookOptions {
  /** How long an edge's members stay after its uplink is lost (the edge may come back and report them again). */
  graceMs: number;
  /** Above this many members (as this core counts them) a topic's joins and leaves are not announced. */
  maxEventMembers: number;
  /** Joins and leaves announced per topic per second at most; more are coalesced per session (core/presence-announcer.ts). */
  eventsPerSecond: number;
  share?: PresenceShare;
}

/** Topic → session → nothing: the members one edge reported. */
type EdgeTopics = Map<string, Set<string>>;

interface EdgeState {
  topics: EdgeTopics;
  /** Since the edge reconnected, until it says it has reported everything: what it held before. */
  previous: EdgeTopics | undefined;
  graceTimer: NodeJS.Timeout | undefined;
}

export class PresenceBook {
  /** Topic → session → member: every member of this core's edges, for counts and answers. */
  private readonly topics = new Map<string, Map<string, StoredMember>>();
  private readonly edges = new Map<string, EdgeState>();
  private readonly watchers = new Map<string, Set<PresenceWatcher>>();
  private readonly watching = new Map<PresenceWatcher, Set<string>>();
  private readonly announcer: PresenceAnnouncer<StoredMember>;

  constructor(private readonly options: PresenceBookOptions) {
    options.share?.onEvent((topic, session, member, joined) => this.tell(topic, session, member, joined));
    this.announcer = new PresenceAnnouncer(options.eventsPerSecond, (topic, session, member, joined) => {
      options.share?.announce(topic, session, member, joined);
      this.tell(topic, session, member, joined);
    });
  }

  /** Members of every topic together (for metrics). */
  get memberCount(): number {
    let count = 0;
    for (const members of this.topics.values()) count += members.size;
    return count;
  }

  join(edge: string, topic: string, session: string, user: string): void {
    const state = this.edgeState(edge);
    let sessions = state.topics.get(topic);
    if (!sessions) state.topics.set(topic, (sessions = new Set()));
    sessions.add(session);
    let members = this.topics.get(topic);
    if (!members) this.topics.set(topic, (members = new Map()));
    const known = members.get(session);
    const member = { user, edge };
    members.set(session, member);
    // Reported again after a reconnect: it never left, so nobody is told it joined.
    if (known?.edge === edge && known.user === user) return;
    this.changed(topic, session, member, true, members.size);
  }

  leave(edge: string, topic: string, session: string): void {
    const state = this.edges.get(edge);
    if (!state) return;
    removeFrom(state.topics, topic, session);
    if (state.previous) removeFrom(state.previous, topic, session);
    this.drop(edge, topic, session);
  }

  /** An edge's uplink is (back): what it reports from now on replaces what it held. */
  edgeConnected(edge: string): void {
    const state = this.edgeState(edge);
    clearTimeout(state.graceTimer);
    state.graceTimer = undefined;
    state.previous = merged(state.previous, state.topics);
    state.topics = new Map();
  }

  /** The edge has reported every member it holds: those it held before and did not report again have left. */
  synced(edge: string): void {
    const state = this.edges.get(edge);
    const previous = state?.previous;
    if (!state || !previous) return;
    state.previous = undefined;
    for (const [topic, sessions] of previous)
      for (const session of sessions) if (!state.topics.get(topic)?.has(session)) this.drop(edge, topic, session);
    this.forgetIfEmpty(edge, state);
  }

  /** The edge's uplink is gone: its members leave after the grace period, unless it comes back first. */
  edgeLost(edge: string): void {
    const state = this.edges.get(edge);
    if (!state) return;
    clearTimeout(state.graceTimer);
    state.graceTimer = setTimeout(() => this.expire(edge, state), this.options.graceMs);
    state.graceTimer.unref();
  }

  watch(watcher: PresenceWatcher, topic: string, on: boolean): void {
    let topics = this.watching.get(watcher);
    if (on) {
      if (!topics) this.watching.set(watcher, (topics = new Set()));
      topics.add(topic);
      let set = this.watchers.get(topic);
      if (!set) this.watchers.set(topic, (set = new Set()));
      set.add(watcher);
      return;
    }
    topics?.delete(topic);
    const set = this.watchers.get(topic);
    set?.delete(watcher);
    if (set?.size === 0) this.watchers.delete(topic);
  }

  /** The watcher's uplink closed: it watches nothing any more. */
  unwatchAll(watcher: PresenceWatcher): void {
    for (const topic of this.watching.get(watcher) ?? []) this.watch(watcher, topic, false);
    this.watching.delete(watcher);
  }

  /** Every member of `topic` in the mesh: the exact count, and at most maxPresenceMembers of them. */
  async query(topic: string): Promise<PresenceAnswer> {
    const own = this.topics.get(topic);
    const others = this.options.share ? await this.options.share.othersOf(topic) : undefined;
    const all = others && others.size > 0 ? new Map([...others, ...(own ?? [])]) : (own ?? new Map());
    const members: PresenceMember[] = [];
    for (const [session, { user, edge }] of all) {
      if (members.length === maxPresenceMembers) break;
      members.push(user ? { session, user, edge } : { session, edge });
    }
    return { count: all.size, members };
  }

  close(): void {
    for (const state of this.edges.values()) clearTimeout(state.graceTimer);
    this.announcer.close();
  }

  private edgeState(edge: string): EdgeState {
    let state = this.edges.get(edge);
    if (!state) this.edges.set(edge, (state = { topics: new Map(), previous: undefined, graceTimer: undefined }));
    return state;
  }

  private expire(edge: string, state: EdgeState): void {
    if (this.edges.get(edge) !== state) return;
    state.graceTimer = undefined;
    for (const [topic, sessions] of merged(state.previous, state.topics))
      for (const session of sessions) this.drop(edge, topic, session);
    this.edges.delete(edge);
  }

  private forgetIfEmpty(edge: string, state: EdgeState): void {
    if (state.topics.size === 0 && !state.previous && !state.graceTimer) this.edges.delete(edge);
  }

  /** The member left, if it is still the edge's (a session reported by another edge since stays). */
  private drop(edge: string, topic: string, session: string): void {
    const members = this.topics.get(topic);
    const member = members?.get(session);
    if (!members || member?.edge !== edge) return;
    members.delete(session);
    if (members.size === 0) this.topics.delete(topic);
    this.changed(topic, session, member, false, members.size + 1);
  }

  /** `size`: the topic's members with this one, which decides whether the change is announced. */
  private changed(topic: string, session: string, member: StoredMember, joined: boolean, size: number): void {
    this.options.share?.changed(topic, session, member, joined);
    if (size <= this.options.maxEventMembers) this.announcer.offer(topic, session, member, joined);
  }

  /** Tells the edges that watch `topic`: one frame, encoded once. */
  private tell(topic: string, session: string, member: StoredMember, joined: boolean): void {
    const watchers = this.watchers.get(topic);
    if (!watchers) return;
    const frame = encodeFrame([frameType.presenceEvent, topic, joined, session, member.user, member.edge]);
    for (const watcher of watchers) watcher.deliver(frame, 'message');
  }
}

function removeFrom(topics: EdgeTopics, topic: string, session: string): void {
  const sessions = topics.get(topic);
  if (!sessions?.delete(session)) return;
  if (sessions.size === 0) topics.delete(topic);
}

function merged(a: EdgeTopics | undefined, b: EdgeTopics): EdgeTopics {
  if (!a) return b;
  for (const [topic, sessions] of b) {
    const into = a.get(topic);
    if (into) for (const session of sessions) into.add(session);
    else a.set(topic, sessions);
  }
  return a;
}
