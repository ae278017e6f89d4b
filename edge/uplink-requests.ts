// The uplink's requests waiting for their answers (a `sub`'s subok, the end of a `history` replay), with the replay
// frames collected on the way. One id space for every request of the uplink, publishes included; a lost uplink fails
// what waits with UplinkLost, which callers tell apart from a refusal by the core.

import { RelayError } from '../shared/errors.js';
import type { FrameOf, frameType } from '../shared/protocol.js';

/** The uplink died with the request on it: not an answer from the core. */
export class UplinkLost extends RelayError {
  constructor() {
    super('unavailable', 'uplink to the core was lost');
  }
}

/** The frames that end a request: a `sub`'s answer, the end of a `history` replay, a presence answer. */
export type AnswerFrame =
  FrameOf<typeof frameType.subok> | FrameOf<typeof frameType.historyEnd> | FrameOf<typeof frameType.presenceAnswer>;

/** Messages of a replay, as [offset, payload], in order. */
export type Replay = Array<[number, Uint8Array]>;

interface PendingRequest {
  replay: Replay;
  settle(frame: AnswerFrame, replay: Replay): void;
  fail(error: RelayError): void;
}

export class UplinkRequests {
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();

  /** A fresh id, for a request of any kind (a publish is tracked elsewhere, under an id from here). */
  newId(): number {
    return this.nextId++;
  }

  /** Waits for the answer to request `id`: `settle` with it and the replay before it, or `fail`. */
  wait(id: number, settle: PendingRequest['settle'], fail: PendingRequest['fail']): void {
    this.pending.set(id, { replay: [], settle, fail });
  }

  /** A message of the replay of request `id` (ignored when nobody waits for it any more). */
  replayed(id: number, offset: number, payload: Uint8Array): void {
    this.pending.get(id)?.replay.push([offset, payload]);
  }

  answered(frame: AnswerFrame): void {
    const request = this.take(frame[1]);
    request?.settle(frame, request.replay);
  }

  /** The core refused request `id` (nothing happens when no request waits under it). */
  refused(id: number, error: RelayError): void {
    this.take(id)?.fail(error);
  }

  /** Stops waiting for request `id` (its asker gave up); false when it was not waiting. */
  forget(id: number): boolean {
    return this.pending.delete(id);
  }

  failAll(error: RelayError): void {
    const requests = [...this.pending.values()];
    this.pending.clear();
    for (const request of requests) request.fail(error);
  }

  private take(id: number): PendingRequest | undefined {
    const request = this.pending.get(id);
    this.pending.delete(id);
    return request;
  }
}
