// The core's view of the mesh: every edge connected to it with its last report, plus what the cores it shares an
// engine with know of theirs. Answers /v1/mesh and /v1/locate here, and goes to every edge so they answer them too:
// at once when one of its edges comes, goes or changes health, and once a period when only load and counters moved
// (one frame per edge per period, whatever the mesh's size).

import { encodeFrame } from '../shared/codec.js';
import {
  coreRow,
  coreStatusOf,
  edgeRow,
  edgeStatusOf,
  type CoreMeshShare,
  type CoreStatus,
  type EdgeReport,
  type EdgeRow,
  type EdgeStatus,
  type MeshSnapshot,
  type TunnelStatus,
} from '../shared/mesh-status.js';
import { Condition } from '../shared/condition.js';
import { frameType } from '../shared/protocol.js';

/** What the view needs of an edge's uplink. */
export interface MeshMember {
  readonly edgeId: string;
  readonly region: string;
  /** Its last report; undefined until the first. */
  readonly report: EdgeReport | undefined;
  /** A hub's: the edges behind it. */
  readonly relayed: readonly EdgeRow[];
  deliver(frame: Buffer, frameClass: 'control'): void;
}

export interface CoreMeshViewOptions {
  core(): CoreStatus;
  members(): Iterable<MeshMember>;
  /** Gives this core's share to the other cores of its engine and returns theirs (none with an engine of its own). */
  exchange(own: CoreMeshShare, ttlMs: number): Promise<CoreMeshShare[]>;
  periodMs: number;
  /**
   * The core side of a hub is no core of the mesh: `self` leaves it out of the cores listed, `all` its edges too (an
   * edge's workers, which the hub reports as one edge). Default: both shown.
   */
  hidden?: 'self' | 'all';
}

export class CoreMeshView {
  private urgent = false;
  private moved = false;
  private remote: CoreMeshShare[] = [];
  private exchanging = false;
  private readonly timer: NodeJS.Timeout;
  readonly watch = new Condition(() => this.snapshot());
  /** The tunnels as this core carries them: its relay, built after this view (whose metrics it counts into). */
  private tunnels: () => TunnelStatus[] = () => [];

  constructor(private readonly options: CoreMeshViewOptions) {
    this.timer = setInterval(() => void this.tick(), options.periodMs);
    this.timer.unref();
  }

  /** An edge came or went, or reported; `previous` is its report before this one. */
  changed(previous: EdgeReport | undefined, current: EdgeReport | undefined): void {
    const healthChanged =
      previous === undefined ||
      current === undefined ||
      previous.draining !== current.draining ||
      previous.url !== current.url ||
      previous.sessions < previous.capacity !== current.sessions < current.capacity;
    this.moved = true;
    this.watch.notify();
    if (!healthChanged || this.urgent) return;
    // Once per turn: several edges connecting together cost one broadcast.
    this.urgent = true;
    setImmediate(() => {
      this.urgent = false;
      this.broadcast();
      // The other cores (or, from a hub, the core upstream) hear of it now too, not a period later.
      void this.tick();
    });
  }

  showTunnels(status: () => TunnelStatus[]): void {
    this.tunnels = status;
  }

  edges(): EdgeStatus[] {
    return this.rows().map(edgeStatusOf);
  }

  snapshot(): MeshSnapshot {
    return {
      via: this.options.core().id,
      at: Date.now(),
      cores: this.cores().map(coreStatusOf),
      edges: this.edges(),
      tunnels: this.tunnels(),
    };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    // A slow exchange (an engine timing out) must not be overtaken by the next one and its answer overwrite a newer one.
    if (this.exchanging) return;
    this.exchanging = true;
    const coreId = this.options.core().id;
    let remote: CoreMeshShare[];
    try {
      // Kept three periods by the engine, so a core that stops sharing drops out of the others' views.
      remote = (
        await this.options.exchange(
          { core: coreRow(this.options.core()), edges: this.ownRows() },
          this.options.periodMs * 3,
        )
      ).filter((share) => share.core[0] !== coreId);
    } catch {
      // The engine is down: what the other cores said can no longer be refreshed, so it is not passed on.
      remote = [];
    } finally {
      this.exchanging = false;
    }
    if (JSON.stringify(remote) !== JSON.stringify(this.remote)) {
      this.remote = remote;
      this.moved = true;
      this.watch.notify();
    }
    if (this.moved) this.broadcast();
  }

  private reported(): MeshMember[] {
    return [...this.options.members()].filter((member) => member.report !== undefined);
  }

  /** This core's edges, then those behind its hubs. */
  private ownRows(): EdgeRow[] {
    const core = this.options.core().id;
    const reported = this.reported();
    const rows = reported.map((member) => edgeRow(member.edgeId, member.region, core, member.report!));
    for (const member of reported) rows.push(...member.relayed);
    return rows;
  }

  /** Own edges first: an edge that just moved here may still be listed by the core (or hub) it left. */
  private rows(): EdgeRow[] {
    const rows: EdgeRow[] = [];
    const seen = new Set<string>();
    const own = this.options.hidden === 'all' ? [] : this.ownRows();
    for (const share of [{ edges: own }, ...this.remote]) {
      for (const row of share.edges) {
        if (seen.has(row[0])) continue;
        seen.add(row[0]);
        rows.push(row);
      }
    }
    return rows;
  }

  private cores(): CoreMeshShare['core'][] {
    const remote = this.remote.map((share) => share.core);
    return this.options.hidden ? remote : [coreRow(this.options.core()), ...remote];
  }

  private broadcast(): void {
    this.moved = false;
    const reported = this.reported();
    if (reported.length === 0) return;
    const frame = encodeFrame([frameType.meshView, this.cores(), this.rows()]);
    for (const member of reported) member.deliver(frame, 'control');
  }
}
