// Collects the outboxes written to during an event-loop turn and flushes each once: one socket write per client
// per turn, however many messages it received. A long flush yields every `sliceSize` outboxes, so the uplink is
// read in between and messages arriving meanwhile join the outboxes not yet written: under load, writes carry
// more messages each (adaptive batching) without delaying the first.

export interface Flushable {
  flush(): void;
}

/** Told after every slice of flushes (the edge-wide outbox bound is enforced then: a round may never end under load). */
export interface FlushSliceListener {
  enforce(): void;
}

/** Outboxes written per slice before the event loop gets a turn. */
const sliceSize = 128;

export class FlushScheduler {
  private dirty: Flushable[] = [];
  private next = 0;
  private scheduled = false;

  constructor(private readonly afterSlice?: FlushSliceListener) {}

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
    this.afterSlice?.enforce();
    if (this.next < this.dirty.length) {
      // Under steady load a round may not end for a long time: drop the part already flushed.
      if (this.next >= 4096 && this.next * 2 >= this.dirty.length) {
        this.dirty = this.dirty.slice(this.next);
        this.next = 0;
      }
      setImmediate(this.run);
      return;
    }
    this.dirty = [];
    this.next = 0;
    this.scheduled = false;
  };
}
