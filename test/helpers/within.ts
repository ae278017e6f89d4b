// Waits on a promise with a deadline: tests wait on events, never on sleeps, and never forever.

export const DEADLINE_MS = 10_000;

/** Rejects unless `promise` settles within the deadline. */
export function within<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * The first of `items` that matches, now or after a later arrival (whoever appends to `items` wakes `waiters`),
 * with the deadline.
 */
export function firstMatch<T>(
  items: readonly T[],
  waiters: Array<() => void>,
  match: (item: T) => boolean,
  what: string,
): Promise<T> {
  return within(
    new Promise<T>((resolve) => {
      const check = (): void => {
        const found = items.find(match);
        if (found) resolve(found);
        else waiters.push(check);
      };
      check();
    }),
    what,
  );
}
