// One MQTT connection's subscriptions: by topic and by pattern, the QoS 1 messages in flight (packet ids awaiting
// PUBACK), and the snapshot a persistent session keeps, from which every unacknowledged message comes again.

import type { Position } from '../../shared/protocol.js';
import { isPattern, matches } from '../../shared/topics.js';
import type { StoredSubscription } from './mqtt-sessions.js';

export interface Subscription {
  filter: string;
  /** The relaymesh topic or pattern. */
  topic: string;
  pattern: boolean;
  qos: 0 | 1;
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
    const subscription: Subscription = { filter, topic, pattern: isPattern(topic), qos, position, phase: 'subscribing', retainAt: 0 };
    this.byTopic.set(topic, subscription);
    if (subscription.pattern) this.patterns.push(subscription);
    return subscription;
  }

  forget(subscription: Subscription): void {
    if (this.holds(subscription)) this.byTopic.delete(subscription.topic);
    if (subscription.pattern) this.patterns = this.patterns.filter((other) => other !== subscription);
    for (const [packetId, entry] of this.inflight) if (entry.subscription === subscription) this.inflight.delete(packetId);
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
    while (this.inflight.has(this.nextPacketId)) this.nextPacketId = this.nextPacketId === maxPacketId ? 1 : this.nextPacketId + 1;
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
      const position = unacknowledged && unacknowledged.epoch === subscription.position?.epoch
        ? { epoch: unacknowledged.epoch, offset: unacknowledged.offset - 1 }
        : subscription.position;
      return { filter: subscription.filter, topic: subscription.topic, qos: subscription.qos, position: subscription.pattern ? undefined : position };
    });
  }
}
