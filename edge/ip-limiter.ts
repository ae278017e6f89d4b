// Counts a client IP's open connections (WebSocket sockets and HTTP-streaming sessions alike) against a limit.

export class IpLimiter {
  private readonly held = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Takes a slot for `ip`; false when it already holds `max`. */
  acquire(ip: string): boolean {
    const count = this.held.get(ip) ?? 0;
    if (count >= this.max) return false;
    this.held.set(ip, count + 1);
    return true;
  }

  release(ip: string): void {
    const left = (this.held.get(ip) ?? 1) - 1;
    if (left > 0) this.held.set(ip, left);
    else this.held.delete(ip);
  }
}
