// The edge's view of the mesh: the last view its core sent, with this edge's own entry always fresh.
// While the uplink is down the other edges' entries are as last heard (their uplinks are not this one's);
// this edge itself is then unhealthy, so /v1/locate here sends clients elsewhere.

import { Condition } from '../shared/condition.js';
import {
  coreStatusOf,
  edgeStatusOf,
  type CoreRow,
  type CoreStatus,
  type EdgeRow,
  type EdgeStatus,
  type MeshSnapshot,
  type TunnelStatus,
} from '../shared/mesh-status.js';

export class EdgeMeshView {
  private cores: CoreStatus[] = [];
  private others: EdgeStatus[] = [];
  /** A worker's: this edge as the core has it, all workers together. */
  private whole: EdgeStatus | undefined;
  readonly watch = new Condition(() => this.snapshot());

  /** `tunnels`: the tunnels as this edge carries them; `worker`: this process is one of the edge's workers. */
  constructor(
    private readonly self: () => EdgeStatus,
    private readonly tunnels: () => TunnelStatus[],
    private readonly worker = false,
  ) {}

  update(cores: CoreRow[], edges: EdgeRow[]): void {
    this.cores = cores.map(coreStatusOf);
    const id = this.self().id;
    this.others = edges.filter((row) => row[0] !== id).map(edgeStatusOf);
    const whole = edges.find((row) => row[0] === id);
    this.whole = this.worker && whole ? edgeStatusOf(whole) : undefined;
    this.watch.notify();
  }

  /** This edge first: fresh, or for a worker the whole edge (with this worker's health, which is the edge's). */
  edges(): EdgeStatus[] {
    const self = this.self();
    return [this.whole ? { ...this.whole, healthy: self.healthy } : self, ...this.others];
  }

  snapshot(): MeshSnapshot {
    return { via: this.self().id, at: Date.now(), cores: this.cores, edges: this.edges(), tunnels: this.tunnels() };
  }
}
