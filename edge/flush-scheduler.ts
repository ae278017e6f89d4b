// Collects the outboxes written to during an event-loop turn and flushes each once: one socket write per client
// per turn, however many messages it received. A long flush yields every `sliceSize` outboxes, so the uplink is
// read in between and messages arriving meanwhile join the outboxes not yet written: under load, writes carry
// more messages each (adaptive batching) without delaying the first.

export interface Flushable {
  flush(): void;
}

/** Told when a whole round of flushes is done (the edge-wide outbox bound is enforced then). */
export interface FlushRoundListener {
  enforce(): void;
}

/** Outboxes written per slice before the event loop gets a turn. */
const sliceSize = 128;

export class FlushScheduler {
  private dirty: Flushable[] = [];
  private next = 0;
  private scheduled = false;

  constructor(private readonly afterRound?: FlushRoundListener) {}

  /** Call once per outbox until it is flushed (the outbox remembers it is marked). */
  mark(outbox: Flushable): void {
    this.dirty.push(outbox);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    const end = Math.min(this.dirty.length, this.next + sliceSize);
    for (let i = this.next; i < end; i++) this.dirty[i]!.flush();
    this.next = end;
    if (this.next < this.dirty.length) {
      setImmediate(this.run);
      return;
    }
    this.dirty = [];
    this.next = 0;
    this.scheduled = false;
    this.afterRound?.enforce();
  };
}
