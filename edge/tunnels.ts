// An edge's tunnels (docs/protocol.md §8): streams entering here (TCP forwards, /v1/tunnel/<name>) go over the
// tunnel link, and streams the core opens to a service this edge is `at` are dialled here, and only to the configured
// address.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { TunnelStatus } from '../shared/mesh-status.js';
import type { MuxStream } from '../shared/stream-mux.js';
import { forwardEntry, listenForwards, type ForwardListeners } from '../shared/tunnel-forwards.js';
import { TunnelLedger } from '../shared/tunnel-ledger.js';
import type { TunnelMetrics, TunnelRefusal } from '../shared/tunnel-metrics.js';
import { dialService, joinSocket, type SocketJoin } from '../shared/tunnel-socket.js';
import type { Address, ForwardConfig, TunnelConfig } from '../shared/topology.js';

export interface EdgeTunnelsOptions {
  edgeId: string;
  tunnels: readonly TunnelConfig[];
  /** Opens a stream over the uplink; undefined while it is down. */
  openStream(tunnel: string): MuxStream | undefined;
  maxStreams: number;
  maxStreamsPerAddress: number;
  connectTimeoutMs: number;
  metrics: TunnelMetrics;
  logger: Logger;
}

/** A stream admitted at this edge: the caller joins its client to `stream`, and `join` follows it to its end. */
export interface Entry {
  stream: MuxStream;
  join: SocketJoin;
}

export class EdgeTunnels {
  private readonly byName: ReadonlyMap<string, TunnelConfig>;
  private readonly ledger: TunnelLedger;
  private forwards: ForwardListeners | undefined;

  constructor(private readonly options: EdgeTunnelsOptions) {
    this.byName = new Map(options.tunnels.map((tunnel) => [tunnel.name, tunnel]));
    this.ledger = new TunnelLedger({
      tunnels: options.tunnels,
      logger: options.logger,
      metrics: options.metrics,
      maxStreams: options.maxStreams,
      maxStreamsPerAddress: options.maxStreamsPerAddress,
    });
  }

  status(): TunnelStatus[] {
    return this.ledger.status();
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * Why a stream of `tunnel` from `remoteAddress` would be refused now (counted), or undefined: a caller that must
   * answer before it has the client's socket (a WebSocket upgrade) asks first.
   */
  refusal(tunnel: string, remoteAddress: string | undefined): TunnelRefusal | undefined {
    return this.ledger.refusal(tunnel, remoteAddress);
  }

  /** A stream for a client that came in at `entry`, or why not (counted). */
  enter(tunnel: string, remoteAddress: string | undefined, entry: string): Entry | TunnelRefusal {
    const refusal = this.ledger.refusal(tunnel, remoteAddress);
    if (refusal) return refusal;
    const stream = this.options.openStream(tunnel);
    if (!stream) {
      this.ledger.refused(tunnel, 'no_path');
      return 'no_path';
    }
    const join = this.ledger.opened({
      tunnel,
      stream: stream.id,
      entry,
      address: remoteAddress,
      readsClient: true,
      abort: (reason) => stream.abort(reason),
    });
    return { stream, join };
  }

  /** The core opened `stream` to a service: dialled here only when this edge is the tunnel's `at`. */
  accept(stream: MuxStream): void {
    const tunnel = this.byName.get(stream.tunnel);
    if (tunnel?.at !== this.options.edgeId) {
      // The core's topology differs from ours: dial nothing it names unless ours says so too.
      this.options.logger.warn(
        { tunnel: stream.tunnel },
        'the core opened a stream to a tunnel this edge does not dial',
      );
      this.ledger.refused(stream.tunnel, 'unknown_tunnel');
      return stream.reset('refused');
    }
    const refusal = this.ledger.refusal(tunnel.name);
    if (refusal) return stream.reset(refusal === 'draining' ? 'draining' : 'limit');
    const join = this.ledger.opened({
      tunnel: tunnel.name,
      stream: stream.id,
      entry: 'core',
      readsClient: false,
      abort: (reason) => stream.abort(reason),
    });
    dialService(stream, tunnel.connect, this.options.connectTimeoutMs, join);
  }

  /** Listens on this edge's forwards: each connection becomes a stream over the uplink. */
  async listen(forwards: readonly ForwardConfig[]): Promise<readonly Address[]> {
    this.forwards = await listenForwards(forwards, (forward, socket) => this.enterByTcp(forward, socket));
    return this.forwards.addresses;
  }

  /** New streams are refused; open ones run for `graceMs`, then are reset. */
  drain(graceMs: number): Promise<void> {
    return this.ledger.drain(graceMs);
  }

  async close(): Promise<void> {
    await this.forwards?.close();
    this.ledger.abortAll('lost');
  }

  private enterByTcp(forward: ForwardConfig, socket: Socket): void {
    const entry = this.enter(forward.tunnel, socket.remoteAddress, forwardEntry(socket));
    // Refused: closed without data, as when the service itself refuses.
    if (typeof entry === 'string') return void socket.destroySoon();
    joinSocket(entry.stream, socket, entry.join);
  }
}
