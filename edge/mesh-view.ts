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
  readonly watch = new Condition(() => this.snapshot());

  /** `tunnels`: the tunnels as this edge carries them. */
  constructor(
    private readonly self: () => EdgeStatus,
    private readonly tunnels: () => TunnelStatus[],
  ) {}

  update(cores: CoreRow[], edges: EdgeRow[]): void {
    this.cores = cores.map(coreStatusOf);
    const id = this.self().id;
    this.others = edges.filter((row) => row[0] !== id).map(edgeStatusOf);
    this.watch.notify();
  }

  edges(): EdgeStatus[] {
    return [this.self(), ...this.others];
  }

  snapshot(): MeshSnapshot {
    return { via: this.self().id, at: Date.now(), cores: this.cores, edges: this.edges(), tunnels: this.tunnels() };
  }
}
