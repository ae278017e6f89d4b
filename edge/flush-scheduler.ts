// Collects the outboxes written to during one event-loop turn and flushes each once, after the turn's I/O:
// one socket write per client per turn, however many messages it received.

export interface Flushable {
  flush(): void;
}

export class FlushScheduler {
  private dirty: Flushable[] = [];
  private scheduled = false;

  /** Call once per outbox per turn (the outbox remembers it is marked). */
  mark(outbox: Flushable): void {
    this.dirty.push(outbox);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  };
}
