// The pace of join and leave announcements per topic: a budget of events per second (with a burst of two seconds'
// worth), so a client that subscribes and unsubscribes in a loop cannot make every watcher of a topic pay for each
// of its ops. Over budget, changes are held and coalesced per session: when budget returns, only a session's net
// change since the last announcement goes out (a join and a leave in between cancel out), in the order of the topic.

/** One session's change, waiting for the topic's budget. */
interface Held<M> {
  member: M;
  joined: boolean;
  /** What watchers were last told of this session: present or not. */
  announcedJoined: boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

const flushMs = 250;

export class PresenceAnnouncer<M> {
  private readonly buckets = new Map<string, Bucket>();
  private readonly held = new Map<string, Map<string, Held<M>>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly burst: number;

  constructor(
    private readonly perSecond: number,
    private readonly send: (topic: string, session: string, member: M, joined: boolean) => void,
    private readonly clock: { now(): number } = performance,
  ) {
    this.burst = perSecond * 2;
  }

  /** Changes held for their topic's budget, all topics together. */
  get heldCount(): number {
    let count = 0;
    for (const sessions of this.held.values()) count += sessions.size;
    return count;
  }

  /** Whether a change of `session` on `topic` waits: a later one must then be offered too, to be coalesced with it. */
  holds(topic: string, session: string): boolean {
    return this.held.get(topic)?.has(session) ?? false;
  }

  offer(topic: string, session: string, member: M, joined: boolean): void {
    let held = this.held.get(topic);
    // Nothing waits for this topic: within budget, at once; else behind what waits, to keep the topic's order.
    if (!held && this.take(topic)) return this.send(topic, session, member, joined);
    if (!held) this.held.set(topic, (held = new Map()));
    const previous = held.get(session);
    held.delete(session);
    held.set(session, { member, joined, announcedJoined: previous ? previous.announcedJoined : !joined });
    this.arm();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Announces what the budget allows of what is held (its timer calls it; tests with a clock of their own too). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [topic, sessions] of this.held) {
      for (const [session, change] of sessions) {
        if (change.joined !== change.announcedJoined) {
          if (!this.take(topic)) break;
          this.send(topic, session, change.member, change.joined);
        }
        sessions.delete(session);
      }
      if (sessions.size === 0) this.held.delete(topic);
    }
    // Quiet topics' buckets are full again: forgotten, so the map holds only busy topics.
    for (const [topic, bucket] of this.buckets)
      if (!this.held.has(topic) && this.refill(bucket) >= this.burst) this.buckets.delete(topic);
    if (this.held.size > 0 || this.buckets.size > 0) this.arm();
  }

  /** Runs `flush` soon, while anything is held or any bucket is not full again. */
  private arm(): void {
    this.timer ??= setTimeout(() => this.flush(), flushMs).unref();
  }

  private take(topic: string): boolean {
    let bucket = this.buckets.get(topic);
    if (!bucket) {
      this.buckets.set(topic, (bucket = { tokens: this.burst, at: this.clock.now() }));
      this.arm();
    }
    if (this.refill(bucket) < 1) return false;
    bucket.tokens--;
    return true;
  }

  private refill(bucket: Bucket): number {
    const now = this.clock.now();
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perSecond) / 1000);
    bucket.at = now;
    return bucket.tokens;
  }
}
