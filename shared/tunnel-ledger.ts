// The tunnel streams one node carries: how many (in all and per client address), whether a new one may start, the
// log line and metrics of each as it opens and closes, and the drain that lets open ones run for a grace period.

import { addressKey } from './address-key.js';
import { Condition } from './condition.js';
import type { TunnelStatus } from './mesh-status.js';
import type { TunnelMetrics, TunnelRefusal } from './tunnel-metrics.js';
import type { TunnelConfig } from './topology.js';
import type { SocketJoin, StreamOutcome } from './tunnel-socket.js';
import type { StreamResetReason } from './uplink-frames.js';

/** The log lines of a stream's life (a pino logger is one). */
interface StreamLog {
  info(details: object, message: string): void;
}

export interface TunnelLedgerOptions {
  /** The mesh's tunnels, for status. */
  tunnels: readonly TunnelConfig[];
  logger: StreamLog;
  metrics: TunnelMetrics;
  /** Streams this node carries at once. */
  maxStreams: number;
  /** Streams the clients of one address may hold at once. */
  maxStreamsPerAddress: number;
}

export interface StreamRecord {
  tunnel: string;
  /** The stream's id on its uplink, for the log (0 for one that crosses no uplink). */
  stream: number;
  /** Where it came in: "tcp 127.0.0.1:15432", "websocket", "core", "relay". */
  entry: string;
  /** The client's address, if any: its share counts under addressKey (IPv6 by /64); logs show it as it is. */
  address?: string;
  /** Whether the socket the join reads is the client's side (its bytes go to the service). */
  readsClient: boolean;
  /** Ends the stream at once (a drain that ran out of time). */
  abort(reason: StreamResetReason): void;
}

export class TunnelLedger {
  private readonly open = new Set<StreamRecord>();
  private readonly perAddress = new Map<string, number>();
  private draining = false;
  private readonly changes = new Condition(() => this.open.size);
  /** Per tunnel, what this node carries: for /v1/mesh and `relaymesh status`. */
  private readonly totals: Map<string, TunnelStatus>;

  constructor(private readonly options: TunnelLedgerOptions) {
    this.totals = new Map(
      options.tunnels.map(({ name, at }) => [name, { name, at: at ?? '', streams: 0, toService: 0, fromService: 0 }]),
    );
  }

  /** The tunnels with their open streams and the bytes carried here. */
  status(): TunnelStatus[] {
    return [...this.totals.values()].map((tunnel) => ({ ...tunnel }));
  }

  get size(): number {
    return this.open.size;
  }

  /** Why a new stream of `tunnel` (from `address`) would be refused now, counted under that reason; or undefined. */
  refusal(tunnel: string, remoteAddress?: string): TunnelRefusal | undefined {
    const address = remoteAddress === undefined ? undefined : addressKey(remoteAddress);
    const reason = this.draining
      ? 'draining'
      : this.open.size >= this.options.maxStreams
        ? 'limit'
        : address !== undefined && (this.perAddress.get(address) ?? 0) >= this.options.maxStreamsPerAddress
          ? 'address_limit'
          : undefined;
    if (reason) this.refused(tunnel, reason);
    return reason;
  }

  refused(tunnel: string, reason: TunnelRefusal): void {
    this.options.metrics.refused(tunnel, reason);
  }

  /** Records a stream that starts now; what it returns follows its bytes and hears when it has closed. */
  opened(record: StreamRecord): SocketJoin & { closed(outcome: StreamOutcome): void } {
    const { logger, metrics } = this.options;
    this.open.add(record);
    const key = record.address === undefined ? undefined : addressKey(record.address);
    if (key !== undefined) this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
    metrics.streamsChanged(record.tunnel, 1);
    const totals = this.totals.get(record.tunnel);
    if (totals) totals.streams++;
    logger.info(
      { tunnel: record.tunnel, stream: record.stream, entry: record.entry, remote: record.address },
      'tunnel stream opened',
    );
    const openedAt = performance.now();
    let closed = false;
    return {
      carried: (fromSocket, bytes) => {
        const toService = fromSocket === record.readsClient;
        metrics.carried(record.tunnel, toService, bytes);
        if (totals && toService) totals.toService += bytes;
        else if (totals) totals.fromService += bytes;
      },
      closed: (outcome) => {
        if (closed) return;
        closed = true;
        this.open.delete(record);
        if (key !== undefined) {
          const left = (this.perAddress.get(key) ?? 1) - 1;
          if (left > 0) this.perAddress.set(key, left);
          else this.perAddress.delete(key);
        }
        metrics.streamsChanged(record.tunnel, -1);
        if (totals) totals.streams--;
        if (outcome.reset === 'refused') this.refused(record.tunnel, 'refused');
        const [toService, fromService] = record.readsClient
          ? [outcome.bytesRead, outcome.bytesWritten]
          : [outcome.bytesWritten, outcome.bytesRead];
        logger.info(
          {
            tunnel: record.tunnel,
            stream: record.stream,
            entry: record.entry,
            toService,
            fromService,
            ms: Math.round(performance.now() - openedAt),
            ...(outcome.reset ? { reset: outcome.reset } : {}),
          },
          'tunnel stream closed',
        );
        this.changes.notify();
      },
    };
  }

  /** Refuses new streams from now on; open ones run until they end or `graceMs` passes, then are reset. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.open.size > 0) {
      this.options.logger.info({ streams: this.open.size, graceMs }, 'draining tunnel streams');
      const graceOver = (): Error => new Error('drain grace over');
      await this.changes.until((size) => size === 0, graceMs, graceOver).catch(() => undefined);
    }
    this.abortAll('draining');
  }

  /** Ends every stream now. */
  abortAll(reason: StreamResetReason): void {
    for (const record of [...this.open]) record.abort(reason);
  }
}
