// A token bucket per session: `rate` messages a second on average, `burst` at once. A client that keeps sending
// while refused runs its bucket into debt, and past a burst's worth of debt it is cut off.

export type RateDecision = 'allow' | 'refuse' | 'disconnect';

export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.tokens = burst;
    this.last = now();
  }

  take(): RateDecision {
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return 'allow';
    return this.tokens < -this.burst ? 'disconnect' : 'refuse';
  }

  /**
   * Costly work done for the session (a replay) spends `tokens` more, down to an empty bucket: its next messages are
   * refused until the bucket refills, in proportion to what it cost, but the work it asked for never gets it cut off.
   */
  charge(tokens: number): void {
    this.refill();
    this.tokens = Math.min(this.tokens, Math.max(0, this.tokens - tokens));
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }
}
