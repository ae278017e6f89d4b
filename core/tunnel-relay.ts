// The core's part in tunnels (docs/protocol.md §8): a stream an edge opens goes to its service, dialled here when
// the tunnel has no `at`, else relayed down the tunnel link of the `at` edge; the core's forwards open streams to
// `at` edges too. A relay is hop by hop: each side keeps its own credit, and bytes are acknowledged to one side as
// they leave toward the other, so the core holds at most one window per stream and direction.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { TunnelStatus } from '../shared/mesh-status.js';
import type { MuxStream } from '../shared/stream-mux.js';
import { forwardEntry, listenForwards, type ForwardListeners } from '../shared/tunnel-forwards.js';
import { TunnelLedger } from '../shared/tunnel-ledger.js';
import { unknownTunnel, type TunnelMetrics } from '../shared/tunnel-metrics.js';
import { dialService, joinSocket, type SocketJoin, type StreamOutcome } from '../shared/tunnel-socket.js';
import type { Address, ForwardConfig, TunnelConfig } from '../shared/topology.js';
import type { StreamResetReason } from '../shared/uplink-frames.js';

/** What the relay needs of an edge's uplink. */
export interface StreamCarrier {
  /** Streams open on it now, either way. */
  readonly streamCount: number;
  /** A new stream down to the edge; undefined when it cannot carry one (gone, or too old to know streams). */
  openStream(tunnel: string): MuxStream | undefined;
}

export interface TunnelRelayOptions {
  tunnels: readonly TunnelConfig[];
  /** The uplink of an edge connected to this core now. */
  carrierOf(edgeId: string): StreamCarrier | undefined;
  /** Streams one edge's uplink may carry at once. */
  maxStreamsPerEdge: number;
  /** Streams the clients of one address may hold on this core's forwards at once. */
  maxStreamsPerAddress: number;
  connectTimeoutMs: number;
  metrics: TunnelMetrics;
  logger: Logger;
  /**
   * On a hub's core side: its own uplink. Streams to tunnels dialled by a core, or `at` an edge not behind this hub,
   * go up it instead of being dialled here.
   */
  upstream?: StreamCarrier;
}

export class TunnelRelay {
  private readonly byName: ReadonlyMap<string, TunnelConfig>;
  private readonly ledger: TunnelLedger;
  private forwards: ForwardListeners | undefined;

  constructor(private readonly options: TunnelRelayOptions) {
    this.byName = new Map(options.tunnels.map((tunnel) => [tunnel.name, tunnel]));
    this.ledger = new TunnelLedger({
      tunnels: options.tunnels,
      logger: options.logger,
      metrics: options.metrics,
      // Bounded per edge (maxStreamsPerEdge) and per forward client address instead.
      maxStreams: Number.POSITIVE_INFINITY,
      maxStreamsPerAddress: options.maxStreamsPerAddress,
    });
  }

  status(): TunnelStatus[] {
    return this.ledger.status();
  }

  /** `from` (an edge's uplink) opened `stream`: attach it to its service or to the `at` edge, or reset it. */
  opened(from: StreamCarrier, edgeId: string, stream: MuxStream): void {
    const tunnel = this.byName.get(stream.tunnel);
    if (!tunnel) {
      this.options.logger.warn({ edge: edgeId, tunnel: stream.tunnel.slice(0, 64) }, 'stream to an unknown tunnel');
      this.ledger.refused(unknownTunnel, 'unknown_tunnel');
      return stream.reset('refused');
    }
    if (from.streamCount > this.options.maxStreamsPerEdge) {
      this.ledger.refused(tunnel.name, 'limit');
      return stream.reset('limit');
    }
    const record = { tunnel: tunnel.name, stream: stream.id, entry: `edge ${edgeId}` };
    if (tunnel.at === undefined && !this.options.upstream) {
      const join = this.ledger.opened({ ...record, readsClient: false, abort: (reason) => stream.abort(reason) });
      dialService(stream, tunnel.connect, this.options.connectTimeoutMs, join);
      return;
    }
    const exit = this.openToward(tunnel);
    if (typeof exit === 'string') return stream.reset(exit);
    const join = this.ledger.opened({
      ...record,
      readsClient: true,
      abort: (reason) => {
        stream.abort(reason);
        exit.abort(reason);
      },
    });
    relay(stream, exit, join);
  }

  /** Listens on this core's forwards: each connection becomes a stream down to its tunnel's `at` edge. */
  async listen(forwards: readonly ForwardConfig[]): Promise<readonly Address[]> {
    this.forwards = await listenForwards(forwards, (forward, socket) => this.enterByTcp(forward, socket));
    return this.forwards.addresses;
  }

  async close(): Promise<void> {
    await this.forwards?.close();
    this.ledger.abortAll('lost');
  }

  /**
   * On a hub: the core upstream opened `stream` toward an edge behind this hub. It goes down to that edge, never back
   * up (a stream this hub cannot place is refused).
   */
  openedUpstream(stream: MuxStream): void {
    const tunnel = this.byName.get(stream.tunnel);
    if (!tunnel?.at) {
      this.ledger.refused(tunnel?.name ?? unknownTunnel, 'no_path');
      return stream.reset('refused');
    }
    const exit = this.openToward(tunnel, false);
    if (typeof exit === 'string') return stream.reset(exit);
    const join = this.ledger.opened({
      tunnel: tunnel.name,
      stream: stream.id,
      entry: 'upstream',
      readsClient: true,
      abort: (reason) => {
        stream.abort(reason);
        exit.abort(reason);
      },
    });
    relay(stream, exit, join);
  }

  /**
   * A stream toward the tunnel's service: down to its `at` edge, or (on a hub, `upward`) up to the core when the
   * service is not behind this hub; else the reset its entry gets.
   */
  private openToward(tunnel: TunnelConfig, upward = true): MuxStream | StreamResetReason {
    const below = tunnel.at === undefined ? undefined : this.options.carrierOf(tunnel.at);
    // The core upstream bounds the streams of this hub's uplink itself.
    if (below && below.streamCount >= this.options.maxStreamsPerEdge) {
      this.ledger.refused(tunnel.name, 'limit');
      return 'limit';
    }
    const exit = (below ?? (upward ? this.options.upstream : undefined))?.openStream(tunnel.name);
    if (exit) return exit;
    // Not on this core at this moment (gone, on another core, or too old): refused like an unreachable service.
    this.ledger.refused(tunnel.name, 'no_path');
    return 'refused';
  }

  private enterByTcp(forward: ForwardConfig, socket: Socket): void {
    const tunnel = this.byName.get(forward.tunnel)!;
    const address = socket.remoteAddress;
    if (this.ledger.refusal(tunnel.name, address)) return void socket.destroySoon();
    const exit = this.openToward(tunnel);
    if (typeof exit === 'string') return void socket.destroySoon();
    const join = this.ledger.opened({
      tunnel: tunnel.name,
      stream: exit.id,
      entry: forwardEntry(socket),
      address,
      readsClient: true,
      abort: (reason) => exit.abort(reason),
    });
    joinSocket(exit, socket, join);
  }
}

/**
 * Joins the stream from the entry to the stream toward the service: bytes, ends and resets pass across, and each side's
 * bytes are acknowledged once they have left on the other side's uplink.
 */
function relay(entry: MuxStream, exit: MuxStream, join: SocketJoin): void {
  const outcome: StreamOutcome = { reset: undefined, bytesRead: 0, bytesWritten: 0 };
  let entryEnded = false;
  let exitEnded = false;
  let finished = false;
  const finish = (reset: StreamResetReason | undefined): void => {
    if (finished) return;
    finished = true;
    outcome.reset = reset;
    join.closed?.(outcome);
  };
  entry.attach({
    data(chunk) {
      outcome.bytesRead += chunk.length;
      join.carried?.(true, chunk.length);
      exit.write(chunk);
    },
    taken: (bytes) => exit.consumed(bytes),
    end() {
      entryEnded = true;
      exit.end();
      if (exitEnded) finish(undefined);
    },
    reset(reason) {
      exit.reset(reason);
      finish(reason);
    },
    writable() {},
  });
  exit.attach({
    data(chunk) {
      outcome.bytesWritten += chunk.length;
      join.carried?.(false, chunk.length);
      entry.write(chunk);
    },
    taken: (bytes) => entry.consumed(bytes),
    end() {
      exitEnded = true;
      entry.end();
      if (entryEnded) finish(undefined);
    },
    reset(reason) {
      entry.reset(reason);
      finish(reason);
    },
    writable() {},
  });
}
