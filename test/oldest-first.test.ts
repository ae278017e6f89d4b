// The byte bound across many queues (shared/oldest-first.ts), against a model: whatever the interleaving of pushes
// and of drops by the queues themselves, the total stays within the bound and what goes is always the oldest held.

import test from 'ava';
import fc from 'fast-check';
import { OldestFirstBudget, type BoundedQueue } from '../shared/oldest-first.js';

class Queue implements BoundedQueue {
  budgetSlot = -1;
  readonly items: Array<{ stamp: number; bytes: number }> = [];

  get size(): number {
    return this.items.length;
  }

  oldestStamp(): number {
    return this.items[0]!.stamp;
  }

  dropOldest(): number {
    return this.items.shift()!.bytes;
  }
}

const step = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), queue: fc.nat(7), bytes: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('drop' as const), queue: fc.nat(7) }),
);

test('property: the total stays within the bound, and evictions take the globally oldest items', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 10, max: 200 }), fc.array(step, { maxLength: 300 }), (maxBytes, steps) => {
      const budget = new OldestFirstBudget<Queue>(maxBytes);
      const queues = Array.from({ length: 8 }, () => new Queue());
      let stamp = 0;
      for (const action of steps) {
        const queue = queues[action.queue]!;
        if (action.kind === 'push') {
          const held = queues.flatMap((q) => q.items).sort((a, b) => a.stamp - b.stamp);
          queue.items.push({ stamp: ++stamp, bytes: action.bytes });
          budget.changed(queue, action.bytes);
          // Model: drop the oldest of everything (the new item included) until within the bound.
          const model = [...held, { stamp, bytes: action.bytes }];
          let total = model.reduce((sum, item) => sum + item.bytes, 0);
          while (total > maxBytes) total -= model.shift()!.bytes;
          const actual = queues.flatMap((q) => q.items).sort((a, b) => a.stamp - b.stamp);
          if (JSON.stringify(actual) !== JSON.stringify(model)) return false;
        } else if (queue.size > 0) {
          budget.changed(queue, -queue.dropOldest());
        }
        const total = queues.reduce((sum, q) => sum + q.items.reduce((s, item) => s + item.bytes, 0), 0);
        if (budget.bytes !== total || total > maxBytes) return false;
        if (budget.queues !== queues.filter((q) => q.size > 0).length) return false;
      }
      return true;
    }),
    { seed: 7, numRuns: 500 },
  );
  t.pass();
});
