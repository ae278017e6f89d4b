// Waiting for a state that changes by events (the mesh view reached a state, the uplink is up, Redis is available):
// each waiter is checked now and at every `notify`, and gives up after its time, never by polling.

export class Condition<S> {
  private readonly waiters = new Set<() => void>();

  /** `read` gives the current state; a waiter's test looks at it. */
  constructor(private readonly read: () => S) {}

  /** The state changed: every waiter checks again. */
  notify(): void {
    for (const check of [...this.waiters]) check();
  }

  /**
   * Resolves with the first state for which `holds` is true; rejects with `failed()` when `holds` throws it (the state
   * can never come), or with `timedOut()` after `timeoutMs`.
   */
  until(holds: (state: S) => boolean, timeoutMs: number, timedOut: () => Error): Promise<S> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void): void => {
        this.waiters.delete(check);
        clearTimeout(timer);
        settle();
      };
      const check = (): void => {
        let state: S;
        try {
          state = this.read();
          if (!holds(state)) return;
        } catch (error) {
          return finish(() => reject(error));
        }
        finish(() => resolve(state));
      };
      const timer = setTimeout(() => finish(() => reject(timedOut())), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
