// Reconnect delays: exponential growth with full jitter, capped, so a fleet of clients or edges never reconnects in step.

export interface BackoffOptions {
  /** Delay scale of the first retry, in ms. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** A source of uniform numbers in [0, 1); tests pass a seeded one. */
  random?: () => number;
}

/** The delay before retry number `attempt` (1 for the first retry): uniform in [cap/2, cap], cap = min(max, base·2^(attempt-1)). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.round(cap / 2 + random() * (cap / 2));
}
