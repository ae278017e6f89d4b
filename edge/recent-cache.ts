// The newest messages of one topic held on the edge, so that most clients resuming with `since` are served locally
// instead of asking the core across the WAN. Bounded per topic by count, and across the edge's topics by one byte
// budget (oldest first), so many topics of large messages cannot grow the edge without end.

import { OldestFirstBudget, type BoundedQueue } from '../shared/oldest-first.js';
import type { EncodedMessage } from './encoded-message.js';

/** What a cached message may cost: its payload, and up to two encodings of about its size, plus the objects. */
const bytesOf = (message: EncodedMessage): number => message.payload.length * 3 + 128;

/** The budget every topic's cache of an edge shares; stamps order their messages by arrival. */
export class RecentBudget extends OldestFirstBudget<RecentCache> {
  private stamp = 0;

  nextStamp(): number {
    return ++this.stamp;
  }
}

export class RecentCache implements BoundedQueue {
  budgetSlot = -1;
  private messages: EncodedMessage[] = [];
  private stamps: number[] = [];

  constructor(
    private readonly capacity: number,
    private readonly budget: RecentBudget,
  ) {}

  get size(): number {
    return this.messages.length;
  }

  oldestStamp(): number {
    return this.stamps[0]!;
  }

  dropOldest(): number {
    this.stamps.shift();
    return bytesOf(this.messages.shift()!);
  }

  /** Appends the next message of the topic (offsets must be consecutive; a gap empties the cache). */
  push(message: EncodedMessage): void {
    if (this.capacity === 0) return;
    const newest = this.messages[this.messages.length - 1];
    if (newest && (newest.offset + 1 !== message.offset || newest.epoch !== message.epoch)) this.clear();
    this.messages.push(message);
    this.stamps.push(this.budget.nextStamp());
    let freed = 0;
    // Trimmed in a batch, so a busy topic does not shift its array on every message.
    if (this.messages.length > this.capacity * 2) freed = this.keep(this.capacity);
    this.budget.changed(this, bytesOf(message) - freed);
  }

  /** Replaces the content with a consecutive run of messages, which may exceed the capacity until the next pushes. */
  load(messages: readonly EncodedMessage[]): void {
    this.clear();
    this.messages = messages.slice();
    this.stamps = messages.map(() => this.budget.nextStamp());
    this.budget.changed(
      this,
      this.messages.reduce((bytes, message) => bytes + bytesOf(message), 0),
    );
  }

  clear(): void {
    this.budget.changed(this, -this.keep(0));
  }

  /** The messages after `offset` up to the newest, when the cache holds all of them in `epoch`; otherwise undefined. */
  after(epoch: string, offset: number): EncodedMessage[] | undefined {
    const oldest = this.messages[0];
    if (!oldest || oldest.epoch !== epoch || oldest.offset > offset + 1) return undefined;
    return this.messages.slice(offset + 1 - oldest.offset);
  }

  /** Keeps the newest `count` messages; returns the bytes of those dropped. */
  private keep(count: number): number {
    const dropped = this.messages.length - count;
    if (dropped <= 0) return 0;
    let freed = 0;
    for (let i = 0; i < dropped; i++) freed += bytesOf(this.messages[i]!);
    this.messages = this.messages.slice(dropped);
    this.stamps = this.stamps.slice(dropped);
    return freed;
  }
}
