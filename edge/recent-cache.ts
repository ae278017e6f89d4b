// The newest messages of one topic held on the edge, so that most clients resuming with `since`
// are served locally instead of asking the core across the WAN.

import type { EncodedMessage } from './encoded-message.js';

export class RecentCache {
  private messages: EncodedMessage[] = [];

  constructor(private readonly capacity: number) {}

  /** Appends the next message of the topic (offsets must be consecutive; a gap empties the cache). */
  push(message: EncodedMessage): void {
    if (this.capacity === 0) return;
    const newest = this.messages[this.messages.length - 1];
    if (newest && (newest.offset + 1 !== message.offset || newest.epoch !== message.epoch)) this.messages = [];
    this.messages.push(message);
    if (this.messages.length > this.capacity * 2) this.messages = this.messages.slice(-this.capacity);
  }

  /** Replaces the content with a consecutive run of messages, which may exceed the capacity until the next pushes. */
  load(messages: EncodedMessage[]): void {
    this.messages = messages.slice();
  }

  clear(): void {
    this.messages = [];
  }

  /** The messages after `offset` up to the newest, when the cache holds all of them in `epoch`; otherwise undefined. */
  after(epoch: string, offset: number): EncodedMessage[] | undefined {
    const oldest = this.messages[0];
    if (!oldest || oldest.epoch !== epoch || oldest.offset > offset + 1) return undefined;
    return this.messages.slice(offset + 1 - oldest.offset);
  }
}
