// An order-independent digest of a set of subscriptions, kept current on every add and remove, so that edge and
// core can compare what the edge wants with what the core routes to it without exchanging the whole set.

/** FNV-1a over UTF-16 code units: cheap, and the same on both sides. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export type DigestValue = [count: number, sum: number, xor: number];

export class InterestDigest {
  private count = 0;
  private sum = 0;
  private xor = 0;

  add(subscription: string): void {
    const h = hash(subscription);
    this.count++;
    this.sum = (this.sum + h) >>> 0;
    this.xor = (this.xor ^ h) >>> 0;
  }

  remove(subscription: string): void {
    const h = hash(subscription);
    this.count--;
    this.sum = (this.sum - h) >>> 0;
    this.xor = (this.xor ^ h) >>> 0;
  }

  get value(): DigestValue {
    return [this.count, this.sum, this.xor];
  }

  matches([count, sum, xor]: DigestValue): boolean {
    return count === this.count && sum === this.sum && xor === this.xor;
  }
}
