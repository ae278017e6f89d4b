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
   * Resolves with the first state for which `holds` is true; rejects with what `holds` throws (the state can never
   * come), or with `timedOut()` after `timeoutMs`.
   */
  until(holds: (state: S) => boolean, timeoutMs: number, timedOut: () => Error): Promise<S> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        let state: S;
        try {
          state = this.read();
          if (!holds(state)) return;
        } catch (error) {
          this.waiters.delete(check);
          clearTimeout(timer);
          return reject(error);
        }
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(state);
      };
      timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(timedOut());
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
