// Request-id correlation for protocol adapters: an adapter picks the id of each op it hands the session, and finds
// what that op was for when the session's reply (subok, puback, error…) comes back with the same id.

import type { RequestId } from '../shared/protocol.js';

export class RequestTracker<T> {
  private nextId = 1;
  private readonly pending = new Map<number, T>();

  /** A fresh id for an op about `value`. */
  add(value: T): number {
    const id = this.nextId++;
    this.pending.set(id, value);
    return id;
  }

  /** What the op with this id was for, once: the entry is dropped. */
  take(id: RequestId | undefined): T | undefined {
    if (typeof id !== 'number') return undefined;
    const value = this.pending.get(id);
    this.pending.delete(id);
    return value;
  }

  get size(): number {
    return this.pending.size;
  }

  values(): IterableIterator<T> {
    return this.pending.values();
  }
}
