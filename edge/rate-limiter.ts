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
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return 'allow';
    return this.tokens < -this.burst ? 'disconnect' : 'refuse';
  }
}
