// Who is present on which topic, as this core knows it (docs/protocol.md §9): the members each edge reports over its
// uplink, kept for a grace period after that uplink goes, the members other cores share through the engine, and
// the `join` / `leave` events sent to the edges that watch a topic.

import { encodeFrame } from '../shared/codec.js';
import { frameType, maxPresenceMembers, presenceMember, type PresenceAnswer } from '../shared/protocol.js';
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

/**
 * Members of other cores, shared through the engine (core/redis-presence.ts), or of the rest of the mesh beyond a hub
 * (hub/hub-presence.ts); absent with a core of its own.
 */
export interface PresenceShare {
  /**
   * This core's member joined or left `topic`; `known`: a join some core heard of before (its edge came from
   * elsewhere), so it was announced already.
   */
  changed(topic: string, session: string, member: StoredMember, joined: boolean, known: boolean): void;
  /** ... and the other cores' watchers are to be told (within the topic's budget, which this core keeps). */
  announce(topic: string, session: string, member: StoredMember, joined: boolean): void;
  /** An edge this core had not heard of came to it: the others let go of that edge's members without a word. */
  edgeArrived(edge: string): void;
  /** An edge's grace period ended here and its members' leaves were announced: wherever it comes, they join again. */
  edgeExpired(edge: string): void;
  /**
   * The members of `topic` that the other cores hold (or, beyond a hub, the rest of the mesh), and how many more of
   * them there are than listed (a hub's core lists at most maxPresenceMembers).
   */
  othersOf(topic: string): Promise<{ members: Map<string, StoredMember>; unlisted: number }>;
  /** Another core's member joined or left `topic` (announced), or an edge came to another core. */
  onEvent(listener: (topic: string, session: string, member: StoredMember, joined: boolean) => void): void;
  onEdgeArrived(listener: (edge: string) => void): void;
  onEdgeExpired(listener: (edge: string) => void): void;
  /** This core's edges started (`on`) or stopped watching `topic`'s joins and leaves (a hub asks its own core). */
  watching?(topic: string, on: boolean): void;
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

/** Topic → sessions: the members one edge reported. */
type EdgeTopics = Map<string, Set<string>>;

/**
 * Where an edge's report after a (re)connect comes from, which decides what of it is news to watchers: `continuing`
 * (this core held its members: only changes are), `returning` (its members left here when its grace period ended: the
 * ones it still has join again), `adopted` (another core, or none, announced its members: the leaves it reports are).
 */
type EdgeOrigin = 'continuing' | 'returning' | 'adopted';

interface EdgeState {
  topics: EdgeTopics;
  /** Since the edge reconnected, until it says it has reported everything: what it held before. */
  previous: EdgeTopics | undefined;
  origin: EdgeOrigin;
  connected: boolean;
  /** Another core of the engine took the edge while this one had not yet noticed it gone: forgotten once it does. */
  movedAway: boolean;
  graceTimer: NodeJS.Timeout | undefined;
}

/** Edges whose members left when their grace period ended, remembered so their return is told as joins. */
const maxRememberedEdges = 10_000;

export class PresenceBook {
  /** Topic → session → member: every member of this core's edges, for counts and answers. */
  private readonly topics = new Map<string, Map<string, StoredMember>>();
  private readonly edges = new Map<string, EdgeState>();
  private readonly expired = new Set<string>();
  private readonly watchers = new Map<string, Set<PresenceWatcher>>();
  private readonly watching = new Map<PresenceWatcher, Set<string>>();
  private readonly announcer: PresenceAnnouncer<StoredMember>;
  /** One answer per topic at a time, however many edges ask: with Redis it reads every core's members. */
  private readonly answering = new Map<string, Promise<PresenceAnswer>>();

  constructor(private readonly options: PresenceBookOptions) {
    options.share?.onEvent((topic, session, member, joined) => this.tell(topic, session, member, joined));
    options.share?.onEdgeArrived((edge) => this.edgeElsewhere(edge));
    options.share?.onEdgeExpired((edge) => {
      if (!this.edges.has(edge)) this.rememberExpired(edge);
    });
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

  /** `known`: the edge reported it to a core before (a report after a reconnect), so it was announced then. */
  join(edge: string, topic: string, session: string, user: string, known: boolean): void {
    const state = this.edgeState(edge);
    let sessions = state.topics.get(topic);
    if (!sessions) state.topics.set(topic, (sessions = new Set()));
    sessions.add(session);
    let members = this.topics.get(topic);
    if (!members) this.topics.set(topic, (members = new Map()));
    const held = members.get(session);
    const member = { user, edge };
    members.set(session, member);
    this.options.share?.changed(topic, session, member, true, known && state.origin === 'adopted');
    // Known members were announced: by another core when this one adopted the edge, else by this one, unless it
    // does not hold them (it let them go, or the frame that brought them died with the last link). One this core
    // holds under another edge moved here (from behind a hub, or to it): no news either.
    if (held?.edge === edge || (known && (state.origin === 'adopted' || held !== undefined))) return;
    this.offer(topic, session, member, true, members.size);
  }

  leave(edge: string, topic: string, session: string, user: string): void {
    const state = this.edges.get(edge);
    if (!state) return;
    removeFrom(state.topics, topic, session);
    if (state.previous) removeFrom(state.previous, topic, session);
    const members = this.topics.get(topic);
    // A member another core announced, which left while its edge had no uplink: told here, where the edge came.
    if (members?.get(session)?.edge !== edge) {
      if (state.origin === 'adopted') this.offer(topic, session, { user, edge }, false, (members?.size ?? 0) + 1);
      return;
    }
    this.drop(edge, topic, session, true);
  }

  /** An edge's uplink is (back): what it reports from now on replaces what it held. */
  edgeConnected(edge: string): void {
    const state = this.edgeState(edge);
    clearTimeout(state.graceTimer);
    state.graceTimer = undefined;
    state.connected = true;
    state.movedAway = false;
    // A report cut short (no `synced` yet) is sent again whole: it keeps the origin it had.
    if (state.previous === undefined)
      state.origin = state.topics.size > 0 ? 'continuing' : this.expired.delete(edge) ? 'returning' : 'adopted';
    state.previous = merged(state.previous, state.topics);
    state.topics = new Map();
    if (state.origin === 'adopted') this.options.share?.edgeArrived(edge);
  }

  /** The edge has reported every member it holds: those it held before and did not report again have left. */
  synced(edge: string): void {
    const state = this.edges.get(edge);
    if (!state) return;
    const previous = state.previous;
    state.previous = undefined;
    state.origin = 'continuing';
    for (const [topic, sessions] of previous ?? [])
      for (const session of sessions) if (!state.topics.get(topic)?.has(session)) this.drop(edge, topic, session, true);
  }

  /** The edge's uplink is gone: its members leave after the grace period, unless it comes back first. */
  edgeLost(edge: string): void {
    const state = this.edges.get(edge);
    if (!state) return;
    state.connected = false;
    if (state.movedAway) return this.forget(edge, state, false);
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
      if (!set) {
        this.watchers.set(topic, (set = new Set()));
        this.options.share?.watching?.(topic, true);
      }
      set.add(watcher);
      return;
    }
    topics?.delete(topic);
    const set = this.watchers.get(topic);
    set?.delete(watcher);
    if (set?.size !== 0) return;
    this.watchers.delete(topic);
    this.options.share?.watching?.(topic, false);
  }

  /** The watcher's uplink closed: it watches nothing any more. */
  unwatchAll(watcher: PresenceWatcher): void {
    for (const topic of this.watching.get(watcher) ?? []) this.watch(watcher, topic, false);
    this.watching.delete(watcher);
  }

  /** Every member of `topic` in the mesh: the exact count, and at most maxPresenceMembers of them. */
  query(topic: string): Promise<PresenceAnswer> {
    let answer = this.answering.get(topic);
    if (!answer) {
      answer = this.answer(topic).finally(() => this.answering.delete(topic));
      this.answering.set(topic, answer);
    }
    return answer;
  }

  close(): void {
    for (const state of this.edges.values()) clearTimeout(state.graceTimer);
    this.announcer.close();
  }

  private async answer(topic: string): Promise<PresenceAnswer> {
    const others = this.options.share ? await this.options.share.othersOf(topic) : undefined;
    // Read after the wait: what this core's edges reported meanwhile is in it, as its events went out before it.
    const own = this.topics.get(topic);
    const all = others && others.members.size > 0 ? new Map([...others.members, ...(own ?? [])]) : (own ?? new Map());
    const members = [];
    for (const [session, { user, edge }] of all) {
      if (members.length === maxPresenceMembers) break;
      members.push(presenceMember(session, user, edge));
    }
    return { count: all.size + (others?.unlisted ?? 0), members };
  }

  private edgeState(edge: string): EdgeState {
    let state = this.edges.get(edge);
    if (!state)
      this.edges.set(
        edge,
        (state = {
          topics: new Map(),
          previous: undefined,
          origin: 'adopted',
          connected: false,
          movedAway: false,
          graceTimer: undefined,
        }),
      );
    return state;
  }

  /** The grace period ended: the edge's members leave, and its return will be told as joins. */
  private expire(edge: string, state: EdgeState): void {
    if (this.edges.get(edge) !== state) return;
    this.forget(edge, state, true);
    this.rememberExpired(edge);
    this.options.share?.edgeExpired(edge);
  }

  /** The edge's members left (here or at another core): when it comes back, the ones it still has join again. */
  private rememberExpired(edge: string): void {
    if (this.expired.size >= maxRememberedEdges) this.expired.delete(this.expired.values().next().value!);
    this.expired.add(edge);
  }

  /** The edge went to another core of the engine, which now answers for its members: they go from here unannounced. */
  private edgeElsewhere(edge: string): void {
    this.expired.delete(edge);
    const state = this.edges.get(edge);
    if (!state) return;
    if (state.connected) state.movedAway = true;
    else this.forget(edge, state, false);
  }

  private forget(edge: string, state: EdgeState, announce: boolean): void {
    clearTimeout(state.graceTimer);
    this.edges.delete(edge);
    for (const [topic, sessions] of merged(state.previous, state.topics))
      for (const session of sessions) this.drop(edge, topic, session, announce);
  }

  /** The member left, if it is still the edge's (a session reported by another edge since stays). */
  private drop(edge: string, topic: string, session: string, announce: boolean): void {
    const members = this.topics.get(topic);
    const member = members?.get(session);
    if (!members || member?.edge !== edge) return;
    members.delete(session);
    if (members.size === 0) this.topics.delete(topic);
    this.options.share?.changed(topic, session, member, false, false);
    if (announce) this.offer(topic, session, member, false, members.size + 1);
  }

  /** `size`: the topic's members with this one, which decides whether the change is announced. */
  private offer(topic: string, session: string, member: StoredMember, joined: boolean, size: number): void {
    // Above the cap nothing is announced, except what ends a change still waiting to be (its net effect then holds).
    if (size <= this.options.maxEventMembers || this.announcer.holds(topic, session))
      this.announcer.offer(topic, session, member, joined);
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

/** `a` with `b`'s sessions added (`a` is changed; `b`'s sets may become `a`'s). */
function merged(a: EdgeTopics | undefined, b: EdgeTopics): EdgeTopics {
  if (!a) return b;
  for (const [topic, sessions] of b) {
    const into = a.get(topic);
    if (into) for (const session of sessions) into.add(session);
    else a.set(topic, sessions);
  }
  return a;
}
