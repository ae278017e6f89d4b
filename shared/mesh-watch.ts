// Waiting for the mesh view to reach a state (a drain seen, a load reported): resolved by change events, not polling.

import type { MeshSnapshot } from './mesh-status.js';

export class MeshWatch {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly read: () => MeshSnapshot) {}

  /** The view changed: waiters check again. */
  notify(): void {
    for (const check of [...this.waiters]) check();
  }

  /** Resolves with the first view for which `predicate` holds; rejects after `timeoutMs`. */
  until(predicate: (snapshot: MeshSnapshot) => boolean, timeoutMs = 10_000): Promise<MeshSnapshot> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const snapshot = this.read();
        if (!predicate(snapshot)) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(snapshot);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`the mesh view did not reach the expected state within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
