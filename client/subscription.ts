// A client-side subscription: the position it has reached (for resuming), callbacks, and an async iterator of messages.

import type { PresenceMember, Position } from '../shared/protocol.js';
import { isPattern } from '../shared/topics.js';

export interface MeshMessage {
  topic: string;
  epoch: string;
  offset: number;
  /** The published value; binary data arrives as a Uint8Array. */
  data: unknown;
}

export interface SubscribeOptions {
  /** Resume after this position: the messages after it are replayed when the stream still holds them. */
  since?: Position;
  onMessage?(message: MeshMessage): void;
  /**
   * Continuity was lost (history gone, epoch changed): resync from your own source of truth.
   * Messages continue after `position`.
   */
  onReset?(position: Position): void;
  /** A resubscription (after a reconnect, or with `since`) was answered; `recovered` says whether the gap was replayed. */
  onSubscribed?(info: { position: Position | undefined; recovered: boolean }): void;
  /**
   * Receive `join` / `leave` as other sessions subscribe to this topic and go (a topic, not a pattern). On by itself
   * when `onJoin` or `onLeave` is given; listeners added later with `subscription.onJoin` need it too.
   */
  joinLeave?: boolean;
  /** A session subscribed to this topic somewhere in the mesh. */
  onJoin?(member: PresenceMember): void;
  /** A session present on this topic left it (unsubscribed, closed, or lost with its edge). */
  onLeave?(member: PresenceMember): void;
}

export type PresenceListener = (member: PresenceMember) => void;

export class Subscription implements AsyncIterable<MeshMessage> {
  /** The newest position received (exact topics), used as `since` when the client resubscribes. */
  position: Position | undefined;
  /** Whether the last answer to this subscription replayed the gap. */
  recovered = false;
  active = true;
  /** A pattern (`*`, `>`) rather than one topic: worked out once, not for every message. */
  readonly pattern: boolean;
  private readonly queue: MeshMessage[] = [];
  private readonly waiters: Array<(result: IteratorResult<MeshMessage>) => void> = [];
  private iterated = false;
  private readonly presenceListeners = { join: new Set<PresenceListener>(), leave: new Set<PresenceListener>() };

  constructor(
    readonly topic: string,
    readonly options: SubscribeOptions,
    private readonly unsubscribeFrom: (subscription: Subscription) => Promise<void>,
    /** Where an application callback's exception goes, instead of into the socket's handlers. */
    private readonly callbackFailed: (error: unknown) => void,
  ) {
    this.position = options.since;
    this.pattern = isPattern(topic);
  }

  /** Runs an application callback, keeping its exceptions away from the client's own code. */
  notify(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.callbackFailed(error);
    }
  }

  /** Whether the edge is asked for `join` / `leave` of this topic. */
  get joinLeave(): boolean {
    return (
      !this.pattern &&
      (this.options.joinLeave === true || this.options.onJoin !== undefined || this.options.onLeave !== undefined)
    );
  }

  /** Listens to joins (needs `joinLeave`); returns the function that stops listening. */
  onJoin(listener: PresenceListener): () => void {
    this.presenceListeners.join.add(listener);
    return () => this.presenceListeners.join.delete(listener);
  }

  /** Listens to leaves (needs `joinLeave`); returns the function that stops listening. */
  onLeave(listener: PresenceListener): () => void {
    this.presenceListeners.leave.add(listener);
    return () => this.presenceListeners.leave.delete(listener);
  }

  /** A `join` or `leave` of this topic. */
  presence(kind: 'join' | 'leave', member: PresenceMember): void {
    const option = kind === 'join' ? this.options.onJoin : this.options.onLeave;
    if (option) this.notify(() => option(member));
    for (const listener of this.presenceListeners[kind]) this.notify(() => listener(member));
  }

  unsubscribe(): Promise<void> {
    return this.unsubscribeFrom(this);
  }

  /** Delivers a message to the callback and the iterator. */
  push(message: MeshMessage, exact: boolean): void {
    if (exact) this.position = { epoch: message.epoch, offset: message.offset };
    if (this.options.onMessage) this.notify(() => this.options.onMessage!(message));
    // Without a callback the iterator is the consumer, so keep messages until it starts.
    if (this.options.onMessage && !this.iterated) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: message, done: false });
    else this.queue.push(message);
  }

  /** No more messages: pending iterations end. */
  end(): void {
    this.active = false;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<MeshMessage> {
    this.iterated = true;
    return {
      next: () => {
        const message = this.queue.shift();
        if (message) return Promise.resolve({ value: message, done: false });
        if (!this.active) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: async () => {
        await this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }
}
