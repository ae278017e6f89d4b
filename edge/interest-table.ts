// The edge's interest table: which local subscriptions want which topic or pattern, with the uplink carrying
// one `sub` when the first local client arrives and one `unsub` when the last leaves; and the fan-out of each
// message from the core to every local subscriber, encoded once.

import type { Logger } from 'pino';
import type { RelayError } from '../shared/errors.js';
import { InterestDigest, type DigestValue } from '../shared/interest-digest.js';
import { PatternIndex } from '../shared/pattern-index.js';
import type { Position } from '../shared/protocol.js';
import { EncodedMessage } from './encoded-message.js';
import type { LocalSubscription } from './local-subscription.js';
import type { PresentMember } from './presence.js';
import { RecentBudget, RecentCache } from './recent-cache.js';
import { UplinkLost, type SubscribeAnswer } from './uplink.js';

/** What the interest table needs of the uplink (edge/uplink.ts): a small port, so a fake can stand in for it in tests. */
export interface UplinkPort {
  /** Sends a `sub` (when connected: on connect the table resubscribes everything); one answer or error follows. */
  subscribe(
    filter: string,
    since: Position | null,
    onAnswer: (answer: SubscribeAnswer) => void,
    onError: (error: RelayError) => void,
  ): void;
  unsubscribe(filter: string): void;
  /** The messages of `topic` in [from, to] of `epoch`, or null when gone; aborting `signal` cancels it. */
  history(
    topic: string,
    epoch: string,
    from: number,
    to: number,
    holdMs: number,
    signal?: AbortSignal,
  ): Promise<Array<[number, Uint8Array]> | null>;
}

/** After the core refused a subscription that clients still hold, how long until it is asked again. */
const refusedRetryMs = 1000;

interface Interest {
  /** Answered subscriptions, densely packed for the fan-out loop. */
  subscribers: LocalSubscription[];
  /** Subscriptions waiting for the core's answer to this interest's `sub`. */
  waiting: LocalSubscription[];
  /** The core has answered the current `sub` (false again while the uplink is down). */
  confirmed: boolean;
}

interface TopicInterest extends Interest {
  topic: string;
  /** The stream position this edge has delivered up to; epoch '' until the core first answers. */
  epoch: string;
  last: number;
  /** Live messages that arrived before the core's answer (through a pattern's route), to sort by offset after it. */
  early: EncodedMessage[];
  recent: RecentCache;
  /** The `since` of the last `sub` sent for it, to learn from a refused replay. */
  asked: Position | null;
  /**
   * In `epoch`, resumes from this offset or older cannot be replayed (the core said so: history gone, or more than
   * it replays at once); they are answered at once instead of asking the core again. -1: none known.
   */
  unrecoverableUpTo: number;
}

interface PatternInterest extends Interest {
  pattern: string;
}

export interface InterestTableOptions {
  uplink: UplinkPort;
  logger: Logger;
  /** Newest messages kept per topic for local replay. */
  recentMessages: number;
  /** Bytes the recent caches of all topics may hold together; beyond, the oldest messages go first. */
  recentMaxBytes: number;
  /** How long a replay from the core may wait for a down uplink. */
  holdMs: number;
  /** Topics and patterns this edge subscribes on its uplink at most. */
  maxTopics: number;
}

export class InterestTable {
  private readonly topics = new Map<string, TopicInterest>();
  private readonly patterns = new Map<string, PatternInterest>();
  private readonly patternIndex = new PatternIndex<PatternInterest>();
  /** Of every topic and pattern this edge subscribes on the uplink, compared with the core's from time to time. */
  private readonly interestDigest = new InterestDigest();
  private fanoutStamp = 0;
  private readonly recentBudget: RecentBudget;
  // Counters for metrics and the mesh view, plain numbers so the fan-out pays nothing for them.
  /** Messages queued to clients by the fan-out. */
  deliveries = 0;
  /** Messages received from the core. */
  messagesIn = 0;
  /** Payload bytes that did not cross the WAN because one copy served several local clients. */
  wanBytesSaved = 0;
  /** Subscriptions answered with a replay from this edge's recent cache, or fetched from the core. */
  readonly replays = { cache: 0, core: 0 };
  /** Client subscriptions held (answered or waiting). */
  subscriptionCount = 0;

  constructor(private readonly options: InterestTableOptions) {
    this.recentBudget = new RecentBudget(options.recentMaxBytes);
  }

  get topicCount(): number {
    return this.topics.size;
  }

  get patternCount(): number {
    return this.patterns.size;
  }

  /** Whether the edge subscribes `subscription` (a topic or pattern) on its uplink already. */
  holds(subscription: string): boolean {
    return this.topics.has(subscription) || this.patterns.has(subscription);
  }

  /** Whether one more subscription to `subscription` fits the edge's topic limit (a known one always does). */
  hasRoomFor(subscription: string): boolean {
    return this.holds(subscription) || this.topics.size + this.patterns.size < this.options.maxTopics;
  }

  add(subscription: LocalSubscription): void {
    this.subscriptionCount++;
    if (subscription.pattern) return this.addPattern(subscription);
    let interest = this.topics.get(subscription.filter);
    if (!interest) {
      interest = {
        topic: subscription.filter,
        subscribers: [],
        waiting: [],
        confirmed: false,
        epoch: '',
        last: 0,
        early: [],
        recent: new RecentCache(this.options.recentMessages, this.recentBudget),
        asked: null,
        unrecoverableUpTo: -1,
      };
      this.topics.set(interest.topic, interest);
      this.interestDigest.add(interest.topic);
      interest.waiting.push(subscription);
      this.subscribeTopic(interest);
    } else if (!interest.confirmed) {
      interest.waiting.push(subscription);
    } else {
      this.attach(interest, subscription);
    }
  }

  remove(subscription: LocalSubscription): void {
    subscription.leave();
    const interest = subscription.pattern
      ? this.patterns.get(subscription.filter)
      : this.topics.get(subscription.filter);
    if (!interest) return;
    if (subscription.slot >= 0) {
      this.subscriptionCount--;
      const moved = interest.subscribers.pop()!;
      if (moved !== subscription) {
        interest.subscribers[subscription.slot] = moved;
        moved.slot = subscription.slot;
      }
      subscription.slot = -1;
    } else {
      const index = interest.waiting.indexOf(subscription);
      if (index < 0) return;
      interest.waiting.splice(index, 1);
      this.subscriptionCount--;
    }
    if (interest.subscribers.length === 0 && interest.waiting.length === 0) this.forget(subscription.filter);
  }

  /** The sessions present on each topic: exact subscriptions answered to their clients (edge/presence.ts). */
  *presentMembers(): Iterable<PresentMember> {
    for (const interest of this.topics.values())
      for (const subscription of interest.subscribers)
        if (subscription.answered) yield [interest.topic, subscription.session.id, subscription.session.presenceUser];
  }

  /** A message from the core: to the topic's subscribers, then to matching patterns' subscribers, once per session. */
  onMessage(topic: string, epoch: string, offset: number, payload: Uint8Array): void {
    this.messagesIn++;
    const before = this.deliveries;
    this.fanOut(topic, epoch, offset, payload);
    this.countSaved(before, payload.length);
  }

  /** One copy crossed the WAN for every local delivery since `deliveredBefore`: the others were saved. */
  private countSaved(deliveredBefore: number, payloadBytes: number): void {
    const copies = this.deliveries - deliveredBefore;
    if (copies > 1) this.wanBytesSaved += (copies - 1) * payloadBytes;
  }

  private fanOut(topic: string, epoch: string, offset: number, payload: Uint8Array): void {
    const interest = this.topics.get(topic);
    let message: EncodedMessage | undefined;
    if (interest) {
      message = new EncodedMessage(topic, epoch, offset, payload);
      if (interest.confirmed) this.apply(interest, message);
      else interest.early.push(message);
    }
    if (this.patterns.size === 0) return;
    const stamp = ++this.fanoutStamp;
    this.patternIndex.forEachMatch(topic, (pattern) => {
      const subscribers = pattern.subscribers;
      for (let i = 0; i < subscribers.length; i++) {
        const subscription = subscribers[i]!;
        const session = subscription.session;
        if (session.fanoutStamp === stamp) continue;
        // Once a session's exact subscription to this topic is answered, it carries the topic; until then the
        // pattern does, and the exact one remembers how far, so that no message comes twice.
        session.fanoutStamp = stamp;
        message ??= new EncodedMessage(topic, epoch, offset, payload);
        const exact = session.exactSubscription(topic);
        if (exact?.joined || (exact && !exact.throughPattern(message))) continue;
        subscription.deliver(message);
        this.deliveries++;
      }
    });
  }

  /** The uplink is up: subscribe everything again, from the positions already delivered, so the core replays the gap once. */
  onUplinkConnected(): void {
    for (const interest of this.topics.values()) this.subscribeTopic(interest);
    for (const interest of this.patterns.values()) this.subscribePattern(interest);
  }

  onUplinkDisconnected(): void {
    for (const interest of this.topics.values()) interest.confirmed = false;
    for (const interest of this.patterns.values()) interest.confirmed = false;
  }

  digest(): DigestValue {
    return this.interestDigest.value;
  }

  /**
   * The core's view of this edge's subscriptions differs: subscribe again what it lacks (from the positions
   * delivered, so the gap is replayed) and drop what it holds that no client wants.
   * Only confirmed interests are resent: an unconfirmed one has a `sub` on the way that the core had not seen yet.
   */
  repair(coreSubscriptions: readonly string[]): void {
    const held = new Set(coreSubscriptions);
    for (const interest of this.topics.values()) {
      if (held.has(interest.topic) || !interest.confirmed) continue;
      interest.confirmed = false;
      this.subscribeTopic(interest);
    }
    for (const interest of this.patterns.values()) {
      if (held.has(interest.pattern) || !interest.confirmed) continue;
      interest.confirmed = false;
      this.subscribePattern(interest);
    }
    for (const subscription of held) {
      if (!this.topics.has(subscription) && !this.patterns.has(subscription))
        this.options.uplink.unsubscribe(subscription);
    }
  }

  private addPattern(subscription: LocalSubscription): void {
    let interest = this.patterns.get(subscription.filter);
    if (!interest) {
      interest = { pattern: subscription.filter, subscribers: [], waiting: [subscription], confirmed: false };
      this.patterns.set(interest.pattern, interest);
      this.patternIndex.add(interest.pattern, interest);
      this.interestDigest.add(interest.pattern);
      this.subscribePattern(interest);
    } else if (!interest.confirmed) {
      interest.waiting.push(subscription);
    } else {
      subscription.answer(undefined, false);
      this.join(interest, subscription);
    }
  }

  private subscribeTopic(interest: TopicInterest): void {
    // Resume from what this edge delivered; a new interest asks for its first client's `since`, so that replay arrives with the answer.
    const since = interest.epoch
      ? { epoch: interest.epoch, offset: interest.last }
      : (interest.waiting[0]?.since ?? null);
    interest.asked = since;
    this.options.uplink.subscribe(
      interest.topic,
      since,
      (answer) => {
        if (this.topics.get(interest.topic) === interest) this.confirmTopic(interest, answer);
      },
      (error) => this.refused(interest, error),
    );
  }

  private subscribePattern(interest: PatternInterest): void {
    this.options.uplink.subscribe(
      interest.pattern,
      null,
      () => {
        if (this.patterns.get(interest.pattern) !== interest) return;
        interest.confirmed = true;
        const waiting = interest.waiting;
        interest.waiting = [];
        for (const subscription of waiting) {
          subscription.answer(undefined, false);
          this.join(interest, subscription);
        }
      },
      (error) => this.refused(interest, error),
    );
  }

  private confirmTopic(interest: TopicInterest, answer: SubscribeAnswer): void {
    // A replay that did not end recovered (it outgrew the core's bound, or history went meanwhile) is dropped.
    const replay = answer.recovered
      ? answer.replay.map(([offset, payload]) => new EncodedMessage(interest.topic, answer.epoch, offset, payload))
      : [];
    if (interest.epoch && interest.epoch !== answer.epoch) interest.unrecoverableUpTo = -1;
    if (!answer.recovered && interest.asked?.epoch === answer.epoch)
      this.unrecoverable(interest, interest.asked.offset);
    if (!interest.epoch) {
      interest.epoch = answer.epoch;
      interest.last = answer.offset;
      interest.recent.load(replay);
    } else if (answer.recovered) {
      // Recovered in another epoch: the stream was lost (a restarted core), and the replay is all of the new one, so
      // subscribers reset to just before its first message and lose none of what was sequenced before this edge came back.
      if (answer.epoch !== interest.epoch)
        this.reset(interest, { epoch: answer.epoch, offset: (replay[0]?.offset ?? answer.offset + 1) - 1 });
      // The gap crossed the WAN once, as a replay: counted like live messages.
      this.messagesIn += replay.length;
      for (const message of replay) this.applyCounted(interest, message);
    } else {
      this.reset(interest, { epoch: answer.epoch, offset: answer.offset });
    }
    interest.confirmed = true;
    const waiting = interest.waiting;
    interest.waiting = [];
    for (const subscription of waiting) this.attach(interest, subscription);
    const early = interest.early;
    interest.early = [];
    for (const message of early) this.applyCounted(interest, message);
  }

  private applyCounted(interest: TopicInterest, message: EncodedMessage): void {
    const before = this.deliveries;
    this.apply(interest, message);
    this.countSaved(before, message.payload.length);
  }

  /** The next message of a confirmed topic: delivered once, in order; a new epoch means continuity was lost. */
  private apply(interest: TopicInterest, message: EncodedMessage): void {
    if (message.epoch !== interest.epoch) this.reset(interest, { epoch: message.epoch, offset: message.offset - 1 });
    else if (message.offset <= interest.last) return;
    interest.last = message.offset;
    interest.recent.push(message);
    const subscribers = interest.subscribers;
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.deliver(message);
    this.deliveries += subscribers.length;
  }

  private reset(interest: TopicInterest, position: Position): void {
    this.options.logger.info(
      { topic: interest.topic, epoch: position.epoch, offset: position.offset },
      'stream continuity lost; subscribers reset',
    );
    interest.epoch = position.epoch;
    interest.last = position.offset;
    interest.recent.clear();
    for (const subscription of interest.subscribers) subscription.reset(interest.topic, position);
  }

  /** Answers a client's subscription on a confirmed topic, replaying from the local cache or the core when it gave `since`. */
  private attach(interest: TopicInterest, subscription: LocalSubscription): void {
    const since = subscription.since;
    const position = { epoch: interest.epoch, offset: interest.last };
    // Nothing to replay (or nothing that can be): answered at the position, live from there.
    if (
      !since ||
      since.epoch !== position.epoch ||
      since.offset > position.offset ||
      since.offset <= interest.unrecoverableUpTo
    ) {
      subscription.answer(position, false);
      subscription.continueFrom(position.offset);
      subscription.release([], position.epoch);
      return this.join(interest, subscription);
    }
    subscription.replayFrom(since.offset);
    const cached = since.offset === position.offset ? [] : interest.recent.after(since.epoch, since.offset);
    if (cached) {
      this.replays.cache++;
      subscription.answer(position, true);
      subscription.release(
        cached.filter((message) => message.offset <= position.offset),
        position.epoch,
      );
      return this.join(interest, subscription);
    }
    // Not in the cache: join now holding live messages, fetch the gap from the core, then answer.
    this.join(interest, subscription);
    this.replays.core++;
    void this.replayFromCore(interest, subscription, since, position);
  }

  private async replayFromCore(
    interest: TopicInterest,
    subscription: LocalSubscription,
    since: Position,
    position: Position,
  ): Promise<void> {
    const fetch = new AbortController();
    subscription.fetchingReplay(fetch);
    const found = await this.fetchHistory(interest.topic, since, position.offset, fetch.signal);
    if (!subscription.joined || fetch.signal.aborted) return;
    // A reset while the replay was on its way (a new epoch) means it no longer continues the stream.
    const current = interest.epoch === position.epoch;
    const answered = current ? position : { epoch: interest.epoch, offset: interest.last };
    const recovered = found !== null && current;
    if (found === null && current) this.unrecoverable(interest, since.offset);
    subscription.answer(answered, recovered);
    if (!recovered) subscription.continueFrom(answered.offset);
    const replay = recovered
      ? found.map(([offset, payload]) => new EncodedMessage(interest.topic, since.epoch, offset, payload))
      : [];
    subscription.release(replay, interest.epoch);
  }

  /** The core's history for (since, to]; null when it is gone, or cannot be had within the hold time. */
  private async fetchHistory(
    topic: string,
    since: Position,
    to: number,
    signal: AbortSignal,
  ): Promise<Array<[number, Uint8Array]> | null> {
    try {
      return await this.options.uplink.history(topic, since.epoch, since.offset + 1, to, this.options.holdMs, signal);
    } catch (error) {
      if (!signal.aborted)
        this.options.logger.warn({ topic, err: (error as Error).message }, 'replay from the core failed');
      return null;
    }
  }

  private unrecoverable(interest: TopicInterest, offset: number): void {
    interest.unrecoverableUpTo = Math.max(interest.unrecoverableUpTo, offset);
  }

  private join(interest: Interest, subscription: LocalSubscription): void {
    subscription.slot = interest.subscribers.length;
    interest.subscribers.push(subscription);
  }

  private refused(interest: TopicInterest | PatternInterest, error: RelayError): void {
    const key = 'topic' in interest ? interest.topic : interest.pattern;
    // A lost uplink is not a refusal: the interest is sent again when it is back. An interest already forgotten (its
    // last client left before the answer) has nobody to tell, and a newer one under the same name is not this one.
    if (error instanceof UplinkLost || (this.topics.get(key) ?? this.patterns.get(key)) !== interest) return;
    const waiting = interest.waiting;
    interest.waiting = [];
    this.subscriptionCount -= waiting.length;
    for (const subscription of waiting) subscription.session.refused(subscription, error);
    if (interest.subscribers.length === 0) return this.forget(key);
    // Clients still rely on it (a resubscription was refused): ask again shortly.
    setTimeout(() => {
      if (interest.confirmed || (this.topics.get(key) ?? this.patterns.get(key)) !== interest) return;
      if ('topic' in interest) this.subscribeTopic(interest);
      else this.subscribePattern(interest);
    }, refusedRetryMs).unref();
  }

  /** Drops an interest no local client holds any more, here and on the core. */
  private forget(subscription: string): void {
    const pattern = this.patterns.get(subscription);
    const topic = this.topics.get(subscription);
    if (pattern) {
      this.patterns.delete(subscription);
      this.patternIndex.remove(subscription, pattern);
    } else if (topic) {
      this.topics.delete(subscription);
      topic.recent.clear();
    } else {
      return;
    }
    this.interestDigest.remove(subscription);
    this.options.uplink.unsubscribe(subscription);
  }
}
