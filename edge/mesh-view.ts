// The edge's view of the mesh: the last view its core sent, with this edge's own entry always fresh.
// While the uplink is down the other edges' entries are as last heard (their uplinks are not this one's);
// this edge itself is then unhealthy, so /v1/locate here sends clients elsewhere.

import { MeshWatch } from '../shared/mesh-watch.js';
import { coreStatusOf, edgeStatusOf, type CoreRow, type CoreStatus, type EdgeRow, type EdgeStatus, type MeshSnapshot } from '../shared/mesh-status.js';

export class EdgeMeshView {
  private core: CoreStatus | undefined;
  private others: EdgeStatus[] = [];
  readonly watch = new MeshWatch(() => this.snapshot());

  constructor(private readonly self: () => EdgeStatus) {}

  update(core: CoreRow, edges: EdgeRow[]): void {
    this.core = coreStatusOf(core);
    const id = this.self().id;
    this.others = edges.filter((row) => row[0] !== id).map((row) => edgeStatusOf(row, core[0]));
    this.watch.notify();
  }

  edges(): EdgeStatus[] {
    return [this.self(), ...this.others];
  }

  snapshot(): MeshSnapshot {
    const self = this.self();
    return { via: self.id, at: Date.now(), cores: this.core ? [this.core] : [], edges: [self, ...this.others] };
  }
}
