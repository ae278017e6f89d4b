// The client's requests waiting for their answers, across reconnects: unsent ones wait for the next connection,
// and a request's frame is built when it is sent, so a resubscription carries the newest `since`.

import type { ClientOp, RequestId, ServerOp } from '../shared/protocol.js';
import type { MeshErrorCode } from './mesh-error.js';
import { MeshError } from './mesh-error.js';

interface PendingRequest {
  op: ClientOp['op'];
  topic: string | undefined;
  build(): ClientOp;
  /** Runs as the answer arrives, before the promise settles (microtasks later): nothing that follows overtakes it. */
  onReply: ((reply: ServerOp) => void) | undefined;
  resolve(reply: ServerOp): void;
  reject(error: MeshError): void;
  /** Sent on the current connection (its answer is lost with it). */
  sent: boolean;
  /** A `sub` the app gave up while it was on the wire: its answer is awaited only to be ignored, never asked again. */
  cancelled: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class PendingRequests {
  private readonly requests = new Map<number, PendingRequest>();
  private nextId = 1;

  /**
   * Registers a request; `timeoutMs` undefined means it waits as long as it takes (a `sub` waits for the uplink,
   * as the protocol says). `send` is called now when connected, else by `sendUnsent` on the next connection.
   */
  add(
    op: ClientOp['op'],
    topic: string | undefined,
    build: () => ClientOp,
    timeoutMs: number | undefined,
    send: ((op: ClientOp) => void) | undefined,
    onReply?: (reply: ServerOp) => void,
  ): Promise<ServerOp> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.requests.delete(id);
              reject(new MeshError('timeout', `no answer to ${op} within ${timeoutMs} ms`));
            }, timeoutMs);
      const request: PendingRequest = {
        op,
        topic,
        build,
        onReply,
        resolve,
        reject,
        sent: false,
        cancelled: false,
        timer,
      };
      this.requests.set(id, request);
      if (send) this.transmit(id, request, send);
    });
  }

  /** Settles the request `id` with a reply; false when no request has that id. */
  answer(id: RequestId | undefined, reply: ServerOp, error: MeshError | undefined): boolean {
    const request = typeof id === 'number' ? this.requests.get(id) : undefined;
    if (!request || typeof id !== 'number') return false;
    this.requests.delete(id);
    clearTimeout(request.timer);
    if (error) {
      request.reject(error);
    } else {
      request.onReply?.(reply);
      request.resolve(reply);
    }
    return true;
  }

  /** True when a `sub` for `topic` waits (sent or not). */
  subscribing(topic: string): boolean {
    for (const request of this.requests.values())
      if (request.op === 'sub' && request.topic === topic && !request.cancelled) return true;
    return false;
  }

  /** The app gave up a subscription: its pending `sub` requests resolve to nothing, and their late answers are ignored. */
  cancelSubscribe(topic: string): void {
    for (const [id, request] of this.requests) {
      if (request.op !== 'sub' || request.topic !== topic) continue;
      clearTimeout(request.timer);
      if (request.sent) {
        request.cancelled = true;
        request.onReply = undefined;
        request.resolve = () => {};
        request.reject = () => {};
      } else {
        this.requests.delete(id);
      }
    }
  }

  /**
   * The connection dropped. A sent `sub` is asked again on the next one (unless the app gave it up: then it is gone
   * with the connection); any other sent request has an unknown outcome (a `pub` may have been sequenced) and fails
   * with `unavailable`.
   */
  connectionLost(code: number): void {
    for (const [id, request] of this.requests) {
      if (!request.sent) continue;
      if (request.cancelled) {
        this.requests.delete(id);
        continue;
      }
      if (request.op === 'sub') {
        request.sent = false;
        continue;
      }
      this.requests.delete(id);
      clearTimeout(request.timer);
      request.reject(new MeshError('unavailable', `connection lost (${code}) before the answer to ${request.op}`));
    }
  }

  sendUnsent(send: (op: ClientOp) => void): void {
    for (const [id, request] of this.requests) if (!request.sent) this.transmit(id, request, send);
  }

  failAll(code: MeshErrorCode, message: string): void {
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const request of requests) {
      clearTimeout(request.timer);
      request.reject(new MeshError(code, message));
    }
  }

  private transmit(id: number, request: PendingRequest, send: (op: ClientOp) => void): void {
    request.sent = true;
    send({ ...request.build(), id });
  }
}
