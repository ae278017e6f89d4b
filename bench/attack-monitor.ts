// Watches the two nodes of the attacked mesh: asks each for its stats every 100 ms, keeps the peak RSS since the
// phase began, the most uplinks the core held, and the latest answer (uplink reconnects, warnings).

import type { BenchChild } from './child.js';
import type { AttackNodeStats } from './attack-node.js';

const everyMs = 100;

export interface NodePeaks {
  coreRss: number;
  edgeRss: number;
  coreUplinks: number;
  /** The samples where each node's RSS peaked: what it was made of then. */
  coreAtPeak: AttackNodeStats | undefined;
  edgeAtPeak: AttackNodeStats | undefined;
  /** Most edge sessions at once. */
  edgeSessions: number;
}

const noPeaks = (): NodePeaks => ({
  coreRss: 0,
  edgeRss: 0,
  coreUplinks: 0,
  coreAtPeak: undefined,
  edgeAtPeak: undefined,
  edgeSessions: 0,
});

export class NodeMonitor {
  latest: { core: AttackNodeStats; edge: AttackNodeStats } | undefined;
  private peaks: NodePeaks = noPeaks();
  private running = true;
  private failure: Error | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly loop: Promise<void>;

  constructor(
    private readonly core: BenchChild,
    private readonly edge: BenchChild,
  ) {
    this.loop = this.run();
  }

  /** The next sample, taken after this call (so it shows what happened up to now). */
  async sample(): Promise<{ core: AttackNodeStats; edge: AttackNodeStats }> {
    if (this.failure) throw this.failure;
    await new Promise<void>((wake) => this.waiters.add(wake));
    if (this.failure || !this.latest) throw this.failure ?? new Error('attack: node monitor stopped');
    return this.latest;
  }

  /** The peaks since the last call, and a fresh start for the next phase. */
  takePeaks(): NodePeaks {
    if (this.failure) throw this.failure;
    const peaks = this.peaks;
    this.peaks = noPeaks();
    return peaks;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const next = performance.now() + everyMs;
      try {
        const [core, edge] = await Promise.all([
          this.core.ask<AttackNodeStats>('stats', 'stats'),
          this.edge.ask<AttackNodeStats>('stats', 'stats'),
        ]);
        this.latest = { core, edge };
        const peaks = this.peaks;
        if (core.rss > peaks.coreRss) Object.assign(peaks, { coreRss: core.rss, coreAtPeak: core });
        if (edge.rss > peaks.edgeRss) Object.assign(peaks, { edgeRss: edge.rss, edgeAtPeak: edge });
        peaks.coreUplinks = Math.max(peaks.coreUplinks, core.uplinks ?? 0);
        peaks.edgeSessions = Math.max(peaks.edgeSessions, edge.sessions ?? 0);
      } catch (error) {
        // A node that died (out of memory, say) ends the run: the caller reports it.
        this.failure = error as Error;
        this.running = false;
      }
      for (const wake of this.waiters) wake();
      this.waiters.clear();
      const wait = next - performance.now();
      if (wait > 0 && this.running) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
