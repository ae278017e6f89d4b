// Turns the messages a core hears on Redis pub/sub into exactly one onMessage per sequenced message per topic, in
// offset order: drops the second copy (a topic matched by an exact and a pattern subscription) and fills gaps (what
// was published while the pub/sub connection was down) from the stream before going on.

import type { StoredMessage } from './engine.js';

/** What the stream still holds of a topic from an offset on, one page at a time; null when the store has no epoch. */
export type FetchFrom = (
  topic: string,
  from: number,
) => Promise<{ epoch: string; messages: StoredMessage[]; full: boolean } | null>;

interface Followed {
  epoch: string;
  /** The newest offset emitted (or, from a baseline, known to exist before the following began). */
  last: number;
  /** While a gap is being filled: live messages wait here, to follow the filled ones. */
  queue: StoredMessage[] | null;
}

export class StreamFollower {
  private readonly topics = new Map<string, Followed>();

  constructor(
    private readonly fetchFrom: FetchFrom,
    private readonly emit: (message: StoredMessage) => void,
    private readonly onLost: (topic: string, error: unknown) => void,
  ) {}

  /** A message heard live. */
  arrive(message: StoredMessage): void {
    const followed = this.topics.get(message.topic);
    if (!followed) {
      this.topics.set(message.topic, { epoch: message.epoch, last: message.offset, queue: null });
      this.emit(message);
    } else if (followed.queue) followed.queue.push(message);
    else this.accept(message.topic, followed, message);
  }

  /** The newest offset of a topic whose following just began, so that a later gap is noticed and filled. */
  baseline(topic: string, epoch: string, offset: number): void {
    if (!this.topics.has(topic)) this.topics.set(topic, { epoch, last: offset, queue: null });
  }

  /** After the pub/sub connection came back (and is subscribed again): emit what every followed topic missed. */
  catchUp(): void {
    for (const [topic, followed] of this.topics) {
      if (followed.queue) continue;
      followed.queue = [];
      void this.fill(topic, followed);
    }
  }

  /** Drops the state of topics no longer followed, so it stays bounded by what the core's edges want. */
  forget(keep: (topic: string) => boolean): void {
    for (const topic of [...this.topics.keys()]) if (!keep(topic)) this.topics.delete(topic);
  }

  get size(): number {
    return this.topics.size;
  }

  private accept(topic: string, followed: Followed, message: StoredMessage): void {
    if (message.epoch !== followed.epoch) {
      // The store lost its data: there is nothing to fill from the old epoch, and the engine reports the reset.
      followed.epoch = message.epoch;
      followed.last = message.offset;
      this.emit(message);
      return;
    }
    if (message.offset <= followed.last) return;
    if (message.offset > followed.last + 1) {
      followed.queue = [message];
      void this.fill(topic, followed);
      return;
    }
    followed.last = message.offset;
    this.emit(message);
  }

  private async fill(topic: string, followed: Followed): Promise<void> {
    try {
      for (;;) {
        const page = await this.fetchFrom(topic, followed.last + 1);
        if (this.topics.get(topic) !== followed || !page || page.epoch !== followed.epoch) break;
        for (const message of page.messages) {
          if (message.offset <= followed.last) continue;
          followed.last = message.offset;
          this.emit(message);
        }
        if (!page.full) break;
      }
    } catch (error) {
      // Give the gap up rather than retry against a store that is failing: the live messages go on from here.
      const first = followed.queue?.[0];
      if (first && first.epoch === followed.epoch) followed.last = Math.max(followed.last, first.offset - 1);
      this.onLost(topic, error);
    }
    const queue = followed.queue ?? [];
    followed.queue = null;
    for (const message of queue) {
      if (followed.queue) (followed.queue as StoredMessage[]).push(message);
      else this.accept(topic, followed, message);
    }
  }
}
