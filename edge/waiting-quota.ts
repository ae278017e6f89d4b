// How many requests may wait at once for something slow (a backend hook, the core's presence answer): a bound for the
// whole edge and a share of it per client address (IPv6 by /64), so one address cannot take every place.

import { addressKey } from '../shared/address-key.js';

export class WaitingQuota {
  private waiting = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Takes a place for a request of `address`; false when the edge or the address has none left. */
  take(address: string): boolean {
    const key = addressKey(address);
    const held = this.byAddress.get(key) ?? 0;
    if (this.waiting >= this.max || held >= this.maxPerAddress) return false;
    this.waiting++;
    this.byAddress.set(key, held + 1);
    return true;
  }

  /** Gives back a place `take` gave. */
  release(address: string): void {
    const key = addressKey(address);
    this.waiting--;
    const left = (this.byAddress.get(key) ?? 1) - 1;
    if (left > 0) this.byAddress.set(key, left);
    else this.byAddress.delete(key);
  }
}
