// A byte bound across many queues (the topics of an engine, the recent caches of an edge): past it, the oldest item
// anywhere goes first. The queues that hold items sit in a min-heap keyed by the arrival of their oldest item, so
// finding and dropping the oldest costs O(log queues), and a queue with nothing in it costs the bound nothing.

export interface BoundedQueue {
  /** Kept by the budget: the queue's index in the heap, -1 while it is not there (empty). */
  budgetSlot: number;
  /** Whether it holds any item. */
  readonly size: number;
  /** When its oldest item arrived, on any clock that does not go back; read only while it holds items. */
  oldestStamp(): number;
  /** Drops its oldest item; returns the bytes that frees. */
  dropOldest(): number;
}

export class OldestFirstBudget<Q extends BoundedQueue> {
  private readonly heap: Q[] = [];
  /** Bytes held by every queue together. */
  bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Queues holding items. */
  get queues(): number {
    return this.heap.length;
  }

  /**
   * Called after `queue` took in or dropped items worth `bytesDelta` (its oldest may have changed); then, while the
   * total is over the bound, the oldest items anywhere go (possibly what was just added, when it alone is too big).
   */
  changed(queue: Q, bytesDelta: number): void {
    this.bytes += bytesDelta;
    this.place(queue);
    while (this.bytes > this.maxBytes && this.heap.length > 0) {
      const oldest = this.heap[0]!;
      this.bytes -= oldest.dropOldest();
      this.place(oldest);
    }
  }

  /** Puts the queue where its oldest item belongs: out of the heap when empty, in it otherwise. */
  private place(queue: Q): void {
    if (queue.size === 0) {
      if (queue.budgetSlot >= 0) this.removeAt(queue.budgetSlot);
      return;
    }
    if (queue.budgetSlot < 0) {
      queue.budgetSlot = this.heap.length;
      this.heap.push(queue);
    }
    this.siftDown(queue.budgetSlot);
    this.siftUp(queue.budgetSlot);
  }

  private removeAt(slot: number): void {
    const removed = this.heap[slot]!;
    const last = this.heap.pop()!;
    removed.budgetSlot = -1;
    if (last === removed) return;
    this.heap[slot] = last;
    last.budgetSlot = slot;
    this.siftDown(slot);
    this.siftUp(last.budgetSlot);
  }

  private siftUp(slot: number): void {
    let index = slot;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.heap[parent]!.oldestStamp() <= this.heap[index]!.oldestStamp()) return;
      this.swap(index, parent);
      index = parent;
    }
  }

  private siftDown(slot: number): void {
    let index = slot;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.heap.length && this.heap[left]!.oldestStamp() < this.heap[smallest]!.oldestStamp())
        smallest = left;
      if (right < this.heap.length && this.heap[right]!.oldestStamp() < this.heap[smallest]!.oldestStamp())
        smallest = right;
      if (smallest === index) return;
      this.swap(index, smallest);
      index = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const first = this.heap[a]!;
    const second = this.heap[b]!;
    this.heap[a] = second;
    this.heap[b] = first;
    first.budgetSlot = b;
    second.budgetSlot = a;
  }
}
