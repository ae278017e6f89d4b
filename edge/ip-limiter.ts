// Counts a client address's open connections (WebSocket sockets and HTTP-streaming sessions alike) against a limit.

import { addressKey } from '../shared/address-key.js';

export class IpLimiter {
  private readonly held = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Takes a slot for `ip`; false when it already holds `max`. */
  acquire(ip: string): boolean {
    const key = addressKey(ip);
    const count = this.held.get(key) ?? 0;
    if (count >= this.max) return false;
    this.held.set(key, count + 1);
    return true;
  }

  release(ip: string): void {
    const key = addressKey(ip);
    const left = (this.held.get(key) ?? 1) - 1;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
  }
}
