// The core's view of the mesh: every edge connected to it with its last report. Answers /v1/mesh and /v1/locate
// here, and goes to every edge so they answer them too: at once when an edge comes, goes or changes health, and
// once a period when only load and counters moved (one frame per edge per period, whatever the mesh's size).

import { encodeFrame } from '../shared/codec.js';
import { coreRow, edgeRow, edgeStatusOf, type CoreStatus, type EdgeReport, type EdgeStatus, type MeshSnapshot } from '../shared/mesh-status.js';
import { MeshWatch } from '../shared/mesh-watch.js';
import { frameType } from '../shared/protocol.js';

/** What the view needs of an edge's uplink. */
export interface MeshMember {
  readonly edgeId: string;
  readonly region: string;
  /** Its last report; undefined until the first. */
  readonly report: EdgeReport | undefined;
  deliver(frame: Buffer): void;
}

export class CoreMeshView {
  private urgent = false;
  private moved = false;
  private readonly timer: NodeJS.Timeout;
  readonly watch = new MeshWatch(() => this.snapshot());

  constructor(private readonly core: () => CoreStatus, private readonly members: () => Iterable<MeshMember>, periodMs: number) {
    this.timer = setInterval(() => {
      if (this.moved) this.broadcast();
    }, periodMs);
    this.timer.unref();
  }

  /** An edge came or went, or reported; `previous` is its report before this one. */
  changed(previous: EdgeReport | undefined, current: EdgeReport | undefined): void {
    const healthChanged = previous === undefined || current === undefined || previous.draining !== current.draining
      || previous.url !== current.url || (previous.sessions < previous.capacity) !== (current.sessions < current.capacity);
    this.moved = true;
    this.watch.notify();
    if (!healthChanged || this.urgent) return;
    // Once per turn: several edges connecting together cost one broadcast.
    this.urgent = true;
    setImmediate(() => {
      this.urgent = false;
      this.broadcast();
    });
  }

  edges(): EdgeStatus[] {
    const core = this.core().id;
    return this.reported().map((member) => edgeStatusOf(edgeRow(member.edgeId, member.region, member.report!), core));
  }

  snapshot(): MeshSnapshot {
    return { via: this.core().id, at: Date.now(), cores: [this.core()], edges: this.edges() };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private reported(): MeshMember[] {
    return [...this.members()].filter((member) => member.report !== undefined);
  }

  private broadcast(): void {
    this.moved = false;
    const reported = this.reported();
    if (reported.length === 0) return;
    const frame = encodeFrame([frameType.meshView, coreRow(this.core()), reported.map((member) => edgeRow(member.edgeId, member.region, member.report!))]);
    for (const member of reported) member.deliver(frame);
  }
}
