// The engine of a hub: its streams live upstream. The hub's core side (core/) serves the edges behind it with this
// engine, which follows their union of interest over the hub's one uplink (edge/uplink.ts), keeps the newest messages
// of each topic to serve their replays locally, and relays their publishes with their de-duplication identity.

import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Engine, EngineStatus, StoredMessage } from '../core/engine.js';
import type { PresenceShare } from '../core/presence-book.js';
import { HubPresence } from './hub-presence.js';
import { EncodedMessage } from '../edge/encoded-message.js';
import { RecentBudget, RecentCache } from '../edge/recent-cache.js';
import { UplinkLost, type SubscribeAnswer, type Uplink } from '../edge/uplink.js';
import type { UplinkListener } from '../edge/uplink-listener.js';
import { RelayError } from '../shared/errors.js';
import { InterestDigest } from '../shared/interest-digest.js';
import type { CoreMeshShare, CoreRow, EdgeReport, EdgeRow } from '../shared/mesh-status.js';
import type { Position } from '../shared/protocol.js';
import type { MuxStream } from '../shared/stream-mux.js';
import { isPattern } from '../shared/topics.js';

export interface HubEngineOptions {
  /** The hub's uplink, not started: the engine listens to it. */
  uplink: Uplink;
  /** How long a request waits for a down uplink before it fails `unavailable`. */
  holdMs: number;
  /** Newest messages kept per topic, and bytes kept across topics, for replays served here. */
  recentMessages: number;
  recentMaxBytes: number;
  logger: Logger;
  /** What the hub reports of itself upstream (its own clients, or its workers' together). */
  report(): EdgeReport;
  /**
   * Of the edges its core side holds, those the core upstream is to list (behind this hub); undefined when the edges
   * are parts of this one (its workers): then nothing is relayed as theirs, neither rows nor publish identities.
   */
  edgesBehind: ((own: readonly EdgeRow[]) => EdgeRow[]) | undefined;
  /** The core opened a tunnel stream toward an edge behind this hub. */
  onStream(stream: MuxStream): void;
  /** The uplink came up or went down. */
  onUpstream?(connected: boolean): void;
  /** Whether the edge `edgeId` has its uplink to this hub now. */
  connectedHere(edgeId: string): boolean;
}

/** Messages fetched upstream at once for a replay that the recent cache cannot serve (the core replays in chunks). */
const fetchAheadMessages = 256;

/** After the core upstream refused a subscription that edges still hold, how long until it is asked again. */
const refusedRetryMs = 1000;

interface Waiter {
  resolve(): void;
  reject(error: RelayError): void;
  timer: NodeJS.Timeout;
}

interface Followed {
  readonly subscription: string;
  /** The core upstream answered the current `sub` (false again while the uplink is down). */
  confirmed: boolean;
  /** A topic's position as delivered to listeners; epoch '' until first answered. */
  epoch: string;
  last: number;
  /** Messages that came before the answer, sorted out by offset after it. */
  early: StoredMessage[];
  recent: RecentCache | undefined;
  waiters: Waiter[];
  /** A fetch ahead came back refused (too many bytes at once): its replays ask for exactly their chunks. */
  exactFetches: boolean;
}

/** Messages fetched upstream for a replay, kept for the next chunks of the same replay. */
interface Fetched {
  epoch: string;
  messages: StoredMessage[];
}

export class HubEngine implements Engine {
  private readonly followed = new Map<string, Followed>();
  private readonly digestOf = new InterestDigest();
  private readonly listeners: Array<(message: StoredMessage) => void> = [];
  private readonly resetListeners: Array<() => void> = [];
  private readonly budget: RecentBudget;
  private readonly fetched: LRUCache<string, Fetched>;
  private upstreamView: { cores: CoreRow[]; edges: EdgeRow[] } | undefined;
  private presence: HubPresence | undefined;
  /** The hub's id, as its core side gives it (with presence). */
  private hubId = '';
  private resetPending = false;

  constructor(private readonly options: HubEngineOptions) {
    this.budget = new RecentBudget(options.recentMaxBytes);
    this.fetched = new LRUCache({
      maxSize: Math.max(1, options.recentMaxBytes),
      sizeCalculation: (entry) => entry.messages.reduce((bytes, message) => bytes + message.data.length + 64, 64),
    });
    options.uplink.listen(this.upstreamListener());
  }

  // ── Engine: what the hub's core side asks ──────────────────────────────────────────────────────────────────

  async publish(topic: string, data: Uint8Array, dedupeKey?: string): Promise<StoredMessage> {
    // A worker's publish is the edge's own (the primary's ids name it); a hub's edges' keep the identity they gave it.
    const origin = this.options.edgesBehind ? dedupeKey : undefined;
    const { epoch, offset } = await this.options.uplink.publish(topic, data, this.options.holdMs, origin);
    return { topic, epoch, offset, data };
  }

  async position(topic: string): Promise<Position> {
    const followed = this.followed.get(topic);
    if (!followed?.confirmed) throw new RelayError('unavailable', `the hub does not follow ${topic} now`);
    return { epoch: followed.epoch, offset: followed.last };
  }

  async read(topic: string, epoch: string, from: number, to: number): Promise<StoredMessage[] | null> {
    // An empty range still says whether `epoch` is current: the cache knows when it holds the epoch, else the core.
    const count = Math.max(0, to - from + 1);
    const cached = this.followed.get(topic)?.recent?.after(epoch, from - 1);
    if (cached && cached.length >= count)
      return cached.slice(0, count).map((message) => ({ topic, epoch, offset: message.offset, data: message.payload }));
    const held = this.fetched.get(topic);
    if (held?.epoch === epoch) {
      const first = held.messages[0]?.offset ?? 0;
      if (first <= from && first + held.messages.length > to) return held.messages.slice(from - first, to - first + 1);
    }
    const followed = this.followed.get(topic);
    const ahead = followed?.epoch === epoch && !followed.exactFetches;
    const upTo = ahead ? Math.min(Math.max(to, followed.last), from + fetchAheadMessages - 1) : to;
    // Fetched ahead for the replay's next chunks. A range the core will not send at once (its replay bound: large
    // messages) is asked again as exactly what was wanted, as are the topic's later ones.
    let replay = await this.options.uplink.history(topic, epoch, from, upTo, this.options.holdMs);
    if (replay === null && upTo > to) {
      if (followed) followed.exactFetches = true;
      replay = await this.options.uplink.history(topic, epoch, from, to, this.options.holdMs);
    }
    if (replay === null) return null;
    const messages = replay.map(([offset, data]) => ({ topic, epoch, offset, data }));
    this.fetched.set(topic, { epoch, messages });
    return messages.slice(0, count);
  }

  onMessage(listener: (message: StoredMessage) => void): void {
    this.listeners.push(listener);
  }

  watch(subscription: string): void {
    const followed: Followed = {
      subscription,
      confirmed: false,
      epoch: '',
      last: 0,
      early: [],
      recent: isPattern(subscription) ? undefined : new RecentCache(this.options.recentMessages, this.budget),
      waiters: [],
      exactFetches: false,
    };
    this.followed.set(subscription, followed);
    this.digestOf.add(subscription);
    this.subscribe(followed);
  }

  unwatch(subscription: string): void {
    const followed = this.followed.get(subscription);
    if (!followed) return;
    this.followed.delete(subscription);
    this.digestOf.remove(subscription);
    followed.recent?.clear();
    this.fetched.delete(subscription);
    this.settle(followed, new RelayError('not_subscribed', `no edge behind the hub follows ${subscription} now`));
    this.options.uplink.unsubscribe(subscription);
  }

  ready(subscription: string): Promise<void> {
    const followed = this.followed.get(subscription);
    if (!followed) return Promise.reject(new RelayError('not_subscribed', `the hub does not follow ${subscription}`));
    if (followed.confirmed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          followed.waiters.splice(followed.waiters.indexOf(waiter), 1);
          reject(new RelayError('unavailable', `no answer from the core upstream within ${this.options.holdMs} ms`));
        }, this.options.holdMs),
      };
      followed.waiters.push(waiter);
    });
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  status(): EngineStatus {
    const uplink = this.options.uplink;
    return {
      unavailable: uplink.connected ? undefined : `no uplink to a core (${uplink.problem ?? 'connecting'})`,
      errors: 0,
    };
  }

  /** Tells the core upstream the edges behind this hub, and answers with the mesh as that core last showed it. */
  async exchangeMesh(own: CoreMeshShare): Promise<CoreMeshShare[]> {
    if (this.options.edgesBehind) this.options.uplink.reportEdgesBehind(this.options.edgesBehind(own.edges));
    const view = this.upstreamView;
    if (!view || !this.options.uplink.connected) return [];
    return view.cores.map((core, index) => ({ core, edges: index === 0 ? view.edges : [] }));
  }

  /** The members behind the hub go to its core as its own; the rest of the mesh's come from there. */
  presenceShare(hubId: string): PresenceShare {
    this.hubId = hubId;
    return (this.presence ??= new HubPresence(this.options.uplink, hubId, this.options.holdMs));
  }

  async close(): Promise<void> {
    for (const followed of this.followed.values())
      this.settle(followed, new RelayError('unavailable', 'hub shutting down'));
    await this.options.uplink.close();
  }

  // ── What the core upstream brings ──────────────────────────────────────────────────────────────────────────

  private upstreamListener(): UplinkListener {
    return {
      onConnected: () => {
        for (const followed of this.followed.values()) this.subscribe(followed);
        this.presence?.upstreamConnected();
        this.options.onUpstream?.(true);
      },
      onDisconnected: () => {
        for (const followed of this.followed.values()) followed.confirmed = false;
        this.upstreamView = undefined;
        this.options.onUpstream?.(false);
      },
      onMessage: (topic, epoch, offset, data) => this.received({ topic, epoch, offset, data }),
      digest: () => this.digestOf.value,
      onDigestMismatch: (coreSubscriptions) => this.repair(coreSubscriptions),
      status: () => this.options.report(),
      onMeshView: (cores, edges) => {
        this.upstreamView = { cores, edges };
        if (!this.presence) return;
        // [id, region, core, …]: an edge of the core's (or another hub's) is not behind this one now.
        for (const [id, , core] of edges)
          if (core !== this.hubId && !this.options.connectedHere(id)) this.presence.edgeElsewhere(id);
      },
      onStream: (stream) => this.options.onStream(stream),
      onPresenceEvent: (topic, joined, session, user, edge) =>
        this.presence?.upstreamEvent(topic, joined, session, user, edge),
    };
  }

  private received(message: StoredMessage): void {
    const followed = this.followed.get(message.topic);
    if (!followed) return this.emit(message);
    if (!followed.confirmed) return void followed.early.push(message);
    this.apply(followed, message);
  }

  /** The core upstream routes a different set to this hub: subscribe again what it lacks, drop what nobody wants. */
  private repair(coreSubscriptions: readonly string[]): void {
    const held = new Set(coreSubscriptions);
    for (const followed of this.followed.values()) {
      if (held.has(followed.subscription) || !followed.confirmed) continue;
      followed.confirmed = false;
      this.subscribe(followed);
    }
    for (const subscription of held)
      if (!this.followed.has(subscription)) this.options.uplink.unsubscribe(subscription);
  }

  // ── Following ──────────────────────────────────────────────────────────────────────────────────────────────

  private subscribe(followed: Followed): void {
    const since = followed.epoch ? { epoch: followed.epoch, offset: followed.last } : null;
    this.options.uplink.subscribe(
      followed.subscription,
      since,
      (answer) => {
        if (this.followed.get(followed.subscription) === followed) this.confirm(followed, answer);
      },
      (error) => this.refused(followed, error),
    );
  }

  private confirm(followed: Followed, answer: SubscribeAnswer): void {
    const replay = answer.recovered ? answer.replay : [];
    if (!followed.epoch || isPattern(followed.subscription)) {
      followed.epoch = answer.epoch;
      followed.last = answer.offset;
    } else if (answer.recovered && answer.epoch === followed.epoch) {
      for (const [offset, data] of replay)
        this.apply(followed, { topic: followed.subscription, epoch: answer.epoch, offset, data });
    } else {
      // The stream went on without this hub (history gone, or a restarted core): the edges behind it resubscribe from
      // their own positions, and their clients are told `recovered: false` or replayed the new stream, as at a core.
      this.options.logger.info(
        { topic: followed.subscription, epoch: answer.epoch, offset: answer.offset },
        'stream continuity lost upstream; the edges behind the hub resubscribe',
      );
      this.resetAll();
      followed.epoch = answer.epoch;
      followed.last = answer.offset;
      followed.recent?.clear();
      this.fetched.delete(followed.subscription);
    }
    followed.confirmed = true;
    const early = followed.early;
    followed.early = [];
    for (const message of early) this.apply(followed, message);
    this.settle(followed);
  }

  /** The next message of a confirmed topic: passed on once, in order. */
  private apply(followed: Followed, message: StoredMessage): void {
    if (followed.recent === undefined) return this.emit(message);
    if (message.epoch === followed.epoch && message.offset <= followed.last) return;
    if (message.epoch !== followed.epoch) {
      this.resetAll();
      followed.epoch = message.epoch;
      followed.recent.clear();
      this.fetched.delete(followed.subscription);
    }
    followed.last = message.offset;
    followed.recent.push(new EncodedMessage(message.topic, message.epoch, message.offset, message.data));
    this.emit(message);
  }

  private emit(message: StoredMessage): void {
    for (const listener of this.listeners) listener(message);
  }

  private refused(followed: Followed, error: RelayError): void {
    // A lost uplink is not a refusal: the subscription is sent again on connect, and its waiters keep waiting.
    if (error instanceof UplinkLost || this.followed.get(followed.subscription) !== followed) return;
    this.settle(followed, error);
    setTimeout(() => {
      if (this.followed.get(followed.subscription) === followed && !followed.confirmed) this.subscribe(followed);
    }, refusedRetryMs).unref();
  }

  /** Answers every `ready` waiting on `followed`: resolved, or rejected with `error`. */
  private settle(followed: Followed, error?: RelayError): void {
    const waiters = followed.waiters;
    followed.waiters = [];
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  /**
   * The core side drops its edges' uplinks, at once: before any message after the gap goes out, so no edge takes it
   * for the next one. Once per turn however many topics lost continuity (they resubscribe from their own positions).
   */
  private resetAll(): void {
    if (this.resetPending) return;
    this.resetPending = true;
    setImmediate(() => (this.resetPending = false));
    for (const listener of this.resetListeners) listener();
  }
}
