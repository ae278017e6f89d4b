// One client's subscription to one topic or pattern on an edge, and the per-client ordering rule:
// a topic's messages reach the client in offset order, never twice, with replays before live messages.

import type { Position, RequestId } from '../shared/protocol.js';
import type { EncodedMessage } from './encoded-message.js';
import type { SessionTransport } from './session-transport.js';

/** What the interest table needs of the session that owns a subscription. */
export interface SubscriberSession {
  readonly transport: SessionTransport;
  /** Set while fanning out one message, so a session matched by several patterns receives it once. */
  fanoutStamp: number;
  /** The session's exact subscription to `topic`, if it holds one. */
  exactSubscription(topic: string): LocalSubscription | undefined;
  /** A replay of `bytes` was served to this session: it pays for it in its message rate. */
  chargeReplay(bytes: number): void;
}

export class LocalSubscription {
  /** Index in the subscriber array of its topic or pattern, for O(1) removal. */
  slot = -1;
  /** Highest offset delivered (exact subscriptions). */
  last = 0;
  /** While a replay is being fetched: live messages wait here, to follow the replay. */
  held: EncodedMessage[] | null = null;
  /** Aborts the fetch of this subscription's replay from the core, while one is on its way. */
  replayFetch: AbortController | undefined;
  /** The request as the client made it, until it is answered with `subok`. */
  request: { id: RequestId | undefined; since: Position | undefined } | null;

  constructor(
    readonly session: SubscriberSession,
    readonly subscription: string,
    readonly pattern: boolean,
    id: RequestId | undefined,
    since: Position | undefined,
  ) {
    this.request = { id, since };
  }

  /** Live delivery of a message of this subscription's topic (or a topic its pattern matches). */
  deliver(message: EncodedMessage): void {
    if (this.held) {
      this.held.push(message);
      return;
    }
    if (!this.pattern) {
      if (message.offset <= this.last) return;
      this.last = message.offset;
    }
    this.session.transport.sendMessage(message);
  }

  /**
   * Ends a replay: the replayed messages, then the live ones held meanwhile (of the stream's current `epoch`),
   * each once and in order.
   */
  release(replay: readonly EncodedMessage[], epoch: string): void {
    const held = this.held ?? [];
    this.held = null;
    if (replay.length > 0) this.session.chargeReplay(replay.reduce((bytes, message) => bytes + message.payload.length, 0));
    for (const message of replay) this.deliver(message);
    for (const message of held) if (message.epoch === epoch) this.deliver(message);
  }
}
