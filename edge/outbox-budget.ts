// The edge-wide bound on bytes its clients have not taken yet (what their sockets still hold after our writes):
// each client has its own cap (limits.outboxMaxBytes), and together they have this one, so a crowd of slow readers
// cannot hold the edge's memory while they fill. Past it, the clients furthest behind are cut first (4508).

export interface Backlogged {
  /** Bytes written to the client's socket that the kernel has not taken yet. */
  backlog(): number;
  /** Ends the client as a slow consumer. */
  cut(): void;
}

export class OutboxBudget {
  private readonly backlogged = new Set<Backlogged>();
  /** An upper estimate of the sum of backlogs, measured afresh only when it crosses the bound. */
  private estimate = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * `bytes` were just written to a client's socket; it counts while its socket holds anything. Backlogs grow only by
   * writes, so adding what each write added keeps the estimate an upper bound without counting a backlog twice.
   */
  wrote(client: Backlogged, bytes: number): void {
    if (client.backlog() === 0) return;
    this.backlogged.add(client);
    this.estimate += bytes;
  }

  /** After a round of writes: when the bound may be crossed, measure, and cut the clients furthest behind until under it. */
  enforce(): void {
    if (this.estimate <= this.maxBytes) return;
    let total = 0;
    for (const client of this.backlogged) {
      const backlog = client.backlog();
      if (backlog === 0) this.backlogged.delete(client);
      else total += backlog;
    }
    if (total > this.maxBytes) {
      const furthestBehind = [...this.backlogged].sort((a, b) => b.backlog() - a.backlog());
      for (const client of furthestBehind) {
        if (total <= this.maxBytes) break;
        total -= client.backlog();
        this.backlogged.delete(client);
        client.cut();
      }
    }
    this.estimate = total;
  }
}
