// A session's subscriptions by topic or pattern. Most sessions hold one, kept in a field; a Map (a few hundred bytes
// even for one entry) only for the others: idle sessions are the bulk of an edge's memory.

import type { LocalSubscription } from './local-subscription.js';

export class SubscriptionSet {
  private first: LocalSubscription | undefined;
  private more: Map<string, LocalSubscription> | undefined;

  get size(): number {
    return (this.first ? 1 : 0) + (this.more?.size ?? 0);
  }

  get(filter: string): LocalSubscription | undefined {
    return this.first?.filter === filter ? this.first : this.more?.get(filter);
  }

  has(filter: string): boolean {
    return this.get(filter) !== undefined;
  }

  /** Adds one whose filter is not held yet. */
  add(subscription: LocalSubscription): void {
    if (!this.first) this.first = subscription;
    else (this.more ??= new Map()).set(subscription.filter, subscription);
  }

  delete(filter: string): void {
    if (this.first?.filter === filter) this.first = undefined;
    else if (this.more?.delete(filter) && this.more.size === 0) this.more = undefined;
  }

  /** A copy: callers drop subscriptions while they go through it. */
  list(): LocalSubscription[] {
    const all = this.more ? [...this.more.values()] : [];
    if (this.first) all.push(this.first);
    return all;
  }
}
