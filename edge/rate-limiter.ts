// A token bucket per session: `rate` messages a second on average, `burst` at once. A client that keeps sending
// while refused runs its bucket into debt, and past a burst's worth of debt it is cut off. Costly work done for it
// (a replay) is charged as debt too: it is refused until that is paid back, but not cut off for it.

export type RateDecision = 'allow' | 'refuse' | 'disconnect';

/** What every bucket of a kind shares (one object, not three fields per session): its rate, burst and clock. */
export interface RatePolicy {
  readonly rate: number;
  readonly burst: number;
  /** Milliseconds; default: since this process started, whole (a small integer is stored inline, a timestamp is not). */
  readonly now?: () => number;
}

const processMs = (): number => Math.floor(performance.now());

export class RateLimiter {
  private tokens: number;
  private last: number;
  /** Below this a client is cut off: a burst under zero, or under the debt it was charged. */
  private cutOff: number;

  constructor(private readonly policy: RatePolicy) {
    this.tokens = policy.burst;
    this.last = (policy.now ?? processMs)();
    this.cutOff = -policy.burst;
  }

  take(): RateDecision {
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return 'allow';
    return this.tokens < this.cutOff ? 'disconnect' : 'refuse';
  }

  /**
   * Costly work done for the session (a replay) spends `tokens` more, into debt if need be: its next messages are
   * refused until the bucket has refilled that much, in proportion to what it cost; the work it asked for never gets
   * it cut off, only sending on while refused does.
   */
  charge(tokens: number): void {
    this.refill();
    this.tokens -= tokens;
    this.cutOff = Math.min(this.cutOff, this.tokens - this.policy.burst);
  }

  /** For a shared bucket: a token if one is there, never a debt (a neighbour's abuse should not outlast it). */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(): void {
    const { rate, burst, now = processMs } = this.policy;
    const at = now();
    this.tokens = Math.min(burst, this.tokens + ((at - this.last) * rate) / 1000);
    this.last = at;
    if (this.tokens >= 0) this.cutOff = -burst;
  }
}
