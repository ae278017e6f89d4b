// What one client address may hold of an edge's shared resources, whatever number of sessions it opens: a share of
// the topics the edge subscribes on its uplink, a rate of topics it makes new to the edge, and a share of the publish
// bytes waiting for the core. One address can then neither fill nor churn the edge's topic table, nor fill its uplink
// queue, for everyone else.

import { LRUCache } from 'lru-cache';
import { addressKey } from '../shared/address-key.js';
import { RateLimiter, type RatePolicy } from './rate-limiter.js';

interface AddressHoldings {
  /** Topic or pattern → sessions of this address holding it. */
  topics: Map<string, number>;
  publishBytes: number;
}

/** How many seconds' worth of new topics an address may make at once. */
const newTopicBurstSeconds = 5;

export class AddressShares {
  private readonly holdings = new Map<string, AddressHoldings>();
  /**
   * Kept apart from the holdings, so letting go of every topic does not refill the bucket. A bucket expires only
   * after a burst's time unused (each take renews it), when it would be full again anyway.
   */
  private readonly newTopicBuckets: LRUCache<string, RateLimiter>;
  private readonly newTopicRate: RatePolicy;

  constructor(
    private readonly maxTopics: number,
    private readonly maxPublishBytes: number,
    newTopicsPerSecond: number,
    /** Milliseconds, for the buckets and their expiry (tests pass their own). */
    clock: { now(): number } = performance,
  ) {
    this.newTopicRate = {
      rate: newTopicsPerSecond,
      burst: newTopicsPerSecond * newTopicBurstSeconds,
      now: () => clock.now(),
    };
    this.newTopicBuckets = new LRUCache({
      max: 100_000,
      ttl: newTopicBurstSeconds * 1000,
      updateAgeOnGet: true,
      // Read the clock at each look, so a bucket is never taken for older (or newer) than it is.
      ttlResolution: 0,
      perf: clock,
    });
  }

  /**
   * A session of `address` subscribes to a topic or pattern the edge does not hold yet (a `sub` on the uplink, work on
   * the core): false when the address has made too many new lately.
   */
  takeNewTopic(address: string): boolean {
    const key = addressKey(address);
    let bucket = this.newTopicBuckets.get(key);
    if (!bucket) {
      bucket = new RateLimiter(this.newTopicRate);
      this.newTopicBuckets.set(key, bucket);
    }
    return bucket.tryTake();
  }

  /** One more session of `address` holds `topic`; false when that would make it hold more distinct topics than its share. */
  holdTopic(address: string, topic: string): boolean {
    const holding = this.holdingOf(addressKey(address));
    const count = holding.topics.get(topic) ?? 0;
    if (count === 0 && holding.topics.size >= this.maxTopics) {
      this.forgetIfEmpty(addressKey(address), holding);
      return false;
    }
    holding.topics.set(topic, count + 1);
    return true;
  }

  releaseTopic(address: string, topic: string): void {
    const key = addressKey(address);
    const holding = this.holdings.get(key);
    const count = holding?.topics.get(topic);
    if (!holding || count === undefined) return;
    if (count > 1) holding.topics.set(topic, count - 1);
    else holding.topics.delete(topic);
    this.forgetIfEmpty(key, holding);
  }

  /** `bytes` more of this address's publishes wait for the core; false when that is over its share. */
  takePublish(address: string, bytes: number): boolean {
    const key = addressKey(address);
    const holding = this.holdingOf(key);
    if (holding.publishBytes > 0 && holding.publishBytes + bytes > this.maxPublishBytes) {
      this.forgetIfEmpty(key, holding);
      return false;
    }
    holding.publishBytes += bytes;
    return true;
  }

  releasePublish(address: string, bytes: number): void {
    const key = addressKey(address);
    const holding = this.holdings.get(key);
    if (!holding) return;
    holding.publishBytes -= bytes;
    this.forgetIfEmpty(key, holding);
  }

  /** Addresses holding anything now. */
  get addresses(): number {
    return this.holdings.size;
  }

  private holdingOf(key: string): AddressHoldings {
    let holding = this.holdings.get(key);
    if (!holding) {
      holding = { topics: new Map(), publishBytes: 0 };
      this.holdings.set(key, holding);
    }
    return holding;
  }

  private forgetIfEmpty(key: string, holding: AddressHoldings): void {
    if (holding.topics.size === 0 && holding.publishBytes <= 0) this.holdings.delete(key);
  }
}
