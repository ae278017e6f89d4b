// Routes each sequenced message to the uplinks whose edges want it: one frame per interested edge,
// encoded once and shared, however many topics and patterns of that edge match.

import { encodeFrame } from '../shared/codec.js';
import { PatternIndex } from '../shared/pattern-index.js';
import { frameType } from '../shared/protocol.js';
import { isPattern } from '../shared/topics.js';
import type { StoredMessage } from './engine.js';

/** What the router needs of an uplink. */
export interface RouteTarget {
  /** Set by the router while routing one message, to send it once per target. */
  routeStamp: number;
  deliver(frame: Buffer): void;
}

/** Told when a topic or pattern gains its first interested target and loses its last (the engine's interest hooks). */
export interface InterestListener {
  watch(subscription: string): void;
  unwatch(subscription: string): void;
}

export class Router<T extends RouteTarget = RouteTarget> {
  private readonly exact = new Map<string, Set<T>>();
  private readonly patterns = new PatternIndex<T>();
  /** Targets per pattern: the index answers matches, not how many hold a pattern. */
  private readonly patternTargets = new Map<string, number>();
  private stamp = 0;

  constructor(private readonly interest?: InterestListener) {}

  /** Adds interest; false when the target already had it. */
  add(target: T, subscription: string): boolean {
    if (isPattern(subscription)) {
      if (!this.patterns.add(subscription, target)) return false;
      const count = this.patternTargets.get(subscription) ?? 0;
      this.patternTargets.set(subscription, count + 1);
      if (count === 0) this.interest?.watch(subscription);
      return true;
    }
    let targets = this.exact.get(subscription);
    if (!targets) {
      targets = new Set();
      this.exact.set(subscription, targets);
    }
    if (targets.has(target)) return false;
    targets.add(target);
    if (targets.size === 1) this.interest?.watch(subscription);
    return true;
  }

  remove(target: T, subscription: string): boolean {
    if (isPattern(subscription)) {
      if (!this.patterns.remove(subscription, target)) return false;
      const count = (this.patternTargets.get(subscription) ?? 1) - 1;
      if (count > 0) this.patternTargets.set(subscription, count);
      else {
        this.patternTargets.delete(subscription);
        this.interest?.unwatch(subscription);
      }
      return true;
    }
    const targets = this.exact.get(subscription);
    if (!targets?.delete(target)) return false;
    if (targets.size === 0) {
      this.exact.delete(subscription);
      this.interest?.unwatch(subscription);
    }
    return true;
  }

  /** Sends `message` to every interested target, once each. Returns how many received it. */
  route(message: StoredMessage): number {
    const stamp = ++this.stamp;
    let frame: Buffer | undefined;
    let count = 0;
    const visit = (target: T): void => {
      if (target.routeStamp === stamp) return;
      target.routeStamp = stamp;
      frame ??= encodeFrame([frameType.msg, message.topic, message.epoch, message.offset, message.data]);
      target.deliver(frame);
      count++;
    };
    const targets = this.exact.get(message.topic);
    if (targets) for (const target of targets) visit(target);
    this.patterns.forEachMatch(message.topic, visit);
    return count;
  }
}
