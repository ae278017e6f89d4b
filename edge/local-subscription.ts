// One client's subscription to one topic or pattern on an edge, and the per-client ordering rule: a topic's messages
// reach the client in offset order, never twice, with replays before live messages. It owns its state; the interest
// table tells it what happened (answered, joined, reset, replay on its way) and it acts on it.

import type { RelayError } from '../shared/errors.js';
import type { Position, RequestId } from '../shared/protocol.js';
import type { EncodedMessage } from './encoded-message.js';
import type { SessionTransport } from './session-transport.js';

/** What the interest table needs of the session that owns a subscription. */
export interface SubscriberSession {
  readonly transport: SessionTransport;
  /** Its id, and who presence shows it as ('' for none). */
  readonly id: string;
  readonly presenceUser: string;
  /** Set while fanning out one message, so a session matched by several patterns receives it once. */
  fanoutStamp: number;
  /** The session's exact subscription to `topic`, if it holds one. */
  exactSubscription(topic: string): LocalSubscription | undefined;
  /** A replay of `bytes` was served to this session: it pays for it in its message rate. */
  chargeReplay(bytes: number): void;
  /** The core refused this subscription: the session forgets it and tells its client. */
  refused(subscription: LocalSubscription, error: RelayError): void;
  /** The client was told its subscription holds (`subok`). */
  answered(subscription: LocalSubscription): void;
}

export class LocalSubscription {
  /** Index in the subscriber array of its topic or pattern, for O(1) removal; -1 while not joined. Kept by the table. */
  slot = -1;
  /** Highest offset delivered (exact subscriptions). */
  private last = 0;
  /** While a replay is on its way: live messages wait here, to follow it. */
  private held: EncodedMessage[] | null = null;
  /** The request as the client made it, until it is answered with `subok`. */
  private request: { id: RequestId | undefined; since: Position | undefined } | null;
  /** Aborts the fetch of this subscription's replay from the core, while one is on its way. */
  private replayFetch: AbortController | undefined;

  constructor(
    readonly session: SubscriberSession,
    /** The topic or pattern subscribed to. */
    readonly filter: string,
    readonly pattern: boolean,
    id: RequestId | undefined,
    since: Position | undefined,
  ) {
    this.request = { id, since };
  }

  /** Its position in the stream when the client asked to resume; undefined once answered, or if it did not ask. */
  get since(): Position | undefined {
    return this.request?.since;
  }

  get answered(): boolean {
    return this.request === null;
  }

  /** The id of the client's `sub` while it is unanswered. */
  get requestId(): RequestId | undefined {
    return this.request?.id;
  }

  get joined(): boolean {
    return this.slot >= 0;
  }

  /** Answers the client's `sub`: with the stream's position for a topic, none for a pattern. */
  answer(position: Position | undefined, recovered: boolean): void {
    const request = this.request;
    this.request = null;
    this.session.transport.sendOp({
      op: 'subok',
      ...(request?.id !== undefined ? { id: request.id } : {}),
      topic: this.filter,
      ...(position ? { epoch: position.epoch, offset: position.offset } : {}),
      recovered,
    });
    this.session.answered(this);
  }

  /** Continues live from `offset` (at least: messages a pattern delivered meanwhile may be further on). */
  continueFrom(offset: number): void {
    this.last = Math.max(this.last, offset);
  }

  /** A replay from `offset` follows: what is delivered meanwhile waits for it. */
  replayFrom(offset: number): void {
    this.last = offset;
    this.held ??= [];
  }

  /**
   * A pattern of the same session carries a message of this subscription's topic while this one waits for its
   * answer: held when a replay will come (to follow it), else counted as delivered, so that it never comes twice.
   */
  throughPattern(message: EncodedMessage): boolean {
    if (this.request?.since) {
      (this.held ??= []).push(message);
      return false;
    }
    this.last = Math.max(this.last, message.offset);
    return true;
  }

  /** Continuity of the stream was lost: it continues after `position`, and an answered client is told. */
  reset(topic: string, position: Position): void {
    this.last = position.offset;
    // One still waiting for its replay learns the new position from its answer instead.
    if (this.answered)
      this.session.transport.sendOp({ op: 'reset', topic, epoch: position.epoch, offset: position.offset });
  }

  /** Its replay is being fetched from the core: `leave` aborts the fetch (the core stops sending it). */
  fetchingReplay(fetch: AbortController): void {
    this.replayFetch = fetch;
  }

  /** It left its topic or pattern: a replay still on its way is for nobody now. */
  leave(): void {
    this.replayFetch?.abort();
    this.replayFetch = undefined;
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
   * each once and in order. The session pays for what was replayed.
   */
  release(replay: readonly EncodedMessage[], epoch: string): void {
    const held = this.held ?? [];
    this.held = null;
    this.replayFetch = undefined;
    if (replay.length > 0)
      this.session.chargeReplay(replay.reduce((bytes, message) => bytes + message.payload.length, 0));
    for (const message of replay) this.deliver(message);
    for (const message of held) if (message.epoch === epoch) this.deliver(message);
  }
}
