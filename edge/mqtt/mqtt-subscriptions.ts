// One MQTT connection's subscriptions: by topic and by pattern (a filter `a/#` with its companion on `a`), the QoS 1
// messages in flight (packet ids awaiting PUBACK), and the snapshot a persistent session keeps.

import type { Position } from '../../shared/protocol.js';
import { isPattern, matches } from '../../shared/topics.js';
import type { StoredSubscription } from './mqtt-sessions.js';

export interface Subscription {
  /** The client's filter; for a companion held for no filter of its own, the `/#` filter it serves. */
  filter: string;
  /** The relaymesh topic or pattern: one session subscription, shared by a filter and a companion role. */
  topic: string;
  pattern: boolean;
  /** The QoS of the client's own filter (see `grantedQos`). */
  qos: 0 | 1;
  /** Subscribed for a filter of the client's; false while held only as a companion. */
  own: boolean;
  /** A `/#` filter's subscription to its parent topic, which MQTT's `#` matches and relaymesh's `>` does not. */
  parent: Subscription | undefined;
  /** On the parent's side: the `/#` subscription it is the companion of. */
  parentOf: Subscription | undefined;
  /** Exact topics: the newest position delivered (or the stream's position when it was subscribed). */
  position: Position | undefined;
  /** `retained`: between the first answer and the resubscription that fetches the retained message. */
  phase: 'subscribing' | 'retained' | 'live';
  /** The offset of the message to deliver with the retain flag (the newest when subscribed); 0: none. */
  retainAt: number;
}

interface Inflight {
  subscription: Subscription;
  epoch: string;
  offset: number;
}

const maxPacketId = 65_535;

export class MqttSubscriptions {
  private readonly byTopic = new Map<string, Subscription>();
  private patterns: Subscription[] = [];
  private readonly inflight = new Map<number, Inflight>();
  private nextPacketId = 1;

  get(topic: string): Subscription | undefined {
    return this.byTopic.get(topic);
  }

  /** Still subscribed (not unsubscribed or replaced meanwhile). */
  holds(subscription: Subscription): boolean {
    return this.byTopic.get(subscription.topic) === subscription;
  }

  add(filter: string, topic: string, qos: 0 | 1, position: Position | undefined): Subscription {
    const subscription: Subscription = {
      filter,
      topic,
      pattern: isPattern(topic),
      qos,
      own: true,
      parent: undefined,
      parentOf: undefined,
      position,
      phase: 'subscribing',
      retainAt: 0,
    };
    this.byTopic.set(topic, subscription);
    if (subscription.pattern) this.patterns.push(subscription);
    return subscription;
  }

  /** `of` (a `/#` filter) covers its parent topic too: with the parent's subscription if held, else a new companion. */
  accompany(
    of: Subscription,
    parent: string,
    position: Position | undefined,
  ): { companion: Subscription; created: boolean } {
    const held = this.byTopic.get(parent);
    const companion = held ?? this.add(of.filter, parent, of.qos, position);
    if (!held) companion.own = false;
    of.parent = companion;
    companion.parentOf = of;
    return { companion, created: !held };
  }

  /** The client subscribes to a topic held until now only as a companion: from here on it is its filter too. */
  claim(subscription: Subscription, filter: string, qos: 0 | 1): void {
    subscription.own = true;
    subscription.filter = filter;
    subscription.qos = qos;
  }

  /**
   * The client's filter ends: unsubscribed, or (`refused`) its session subscription was refused. A subscription still
   * serving as a companion stays (its session subscription too, unless refused); the filter's own companion goes
   * with it unless it is the client's filter as well. Returns that companion's topic for the session to unsubscribe.
   */
  forget(subscription: Subscription, refused = false): string | undefined {
    if (subscription.parentOf && !refused) {
      subscription.own = false;
      subscription.filter = subscription.parentOf.filter;
    } else {
      if (subscription.parentOf) subscription.parentOf.parent = undefined;
      subscription.parentOf = undefined;
      this.remove(subscription);
    }
    const companion = subscription.parent;
    if (!companion) return undefined;
    subscription.parent = undefined;
    companion.parentOf = undefined;
    if (companion.own) return undefined;
    this.remove(companion);
    return companion.topic;
  }

  private remove(subscription: Subscription): void {
    if (this.holds(subscription)) this.byTopic.delete(subscription.topic);
    if (subscription.pattern) this.patterns = this.patterns.filter((other) => other !== subscription);
    for (const [packetId, entry] of this.inflight)
      if (entry.subscription === subscription) this.inflight.delete(packetId);
  }

  /** MQTT delivers at the highest QoS of the filters that match: the own filter's and the `/#` filter's it serves. */
  grantedQos(subscription: Subscription): 0 | 1 {
    return (subscription.own ? subscription.qos : 0) || (subscription.parentOf?.qos ?? 0);
  }

  /** The subscription that carries a message of `topic`: the exact one if held, else the first matching pattern. */
  carrying(topic: string): Subscription | undefined {
    return this.byTopic.get(topic) ?? this.patterns.find((pattern) => matches(pattern.topic, topic));
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** A packet id for a QoS 1 delivery, remembered until its PUBACK. */
  sent(subscription: Subscription, epoch: string, offset: number): number {
    // Ids in use are skipped; the in-flight bound (at most 1024) keeps this loop short.
    while (this.inflight.has(this.nextPacketId))
      this.nextPacketId = this.nextPacketId === maxPacketId ? 1 : this.nextPacketId + 1;
    const id = this.nextPacketId;
    this.nextPacketId = id === maxPacketId ? 1 : id + 1;
    this.inflight.set(id, { subscription, epoch, offset });
    return id;
  }

  acknowledged(packetId: number): void {
    this.inflight.delete(packetId);
  }

  /**
   * What a persistent session keeps: every subscription, and for exact topics the position to resume after — just
   * before the oldest QoS 1 message not acknowledged, so those come again (at least once), else the newest delivered.
   */
  snapshot(): StoredSubscription[] {
    const oldest = new Map<Subscription, Inflight>();
    for (const entry of this.inflight.values()) {
      const known = oldest.get(entry.subscription);
      if (!known || entry.offset < known.offset) oldest.set(entry.subscription, entry);
    }
    return [...this.byTopic.values()].map((subscription) => {
      const unacknowledged = oldest.get(subscription);
      const position =
        unacknowledged && unacknowledged.epoch === subscription.position?.epoch
          ? { epoch: unacknowledged.epoch, offset: unacknowledged.offset - 1 }
          : subscription.position;
      const stored: StoredSubscription = {
        filter: subscription.filter,
        topic: subscription.topic,
        qos: subscription.qos,
        position: subscription.pattern ? undefined : position,
      };
      return subscription.own ? stored : { ...stored, companion: true };
    });
  }
}
