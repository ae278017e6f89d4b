// Draining an edge: it tells its core at once (so /v1/locate stops sending clients here), sends every client
// `redirect` to the first healthy peer (same region first), gives them a grace period to move, then closes the rest
// with 4503. The edge stays up, refusing new clients and reporting 503 on /healthz, until it is closed.

import type { Logger } from 'pino';
import { closeCodes } from '../shared/errors.js';
import { clientPath, type RedirectOp } from '../shared/protocol.js';
import type { ProxyRoute } from './proxy.js';
import { findRedirectTarget, type PeerEdge } from './redirect-target.js';

/** How long clients get to take their close frame before they are dropped. */
const closeGraceMs = 1000;

/** The client listeners a drain moves clients off (edge/client-listener.ts, edge/stream-listener.ts). */
export interface Drainable {
  readonly sessionCount: number;
  redirectAll(op: RedirectOp, graceMs: number): Promise<void>;
}

export interface DrainOptions {
  logger: Logger;
  peers: readonly PeerEdge[];
  region: string;
  /** How long a peer's health check may take. */
  peerTimeoutMs: number;
  /** The CA the peers' https health checks are verified with. */
  ca: Buffer | undefined;
  /** The forward proxy the health checks go through, if any. */
  proxy: ProxyRoute | undefined;
  /** How long redirected clients get before they are closed. */
  graceMs: number;
  clients: Drainable & { closeAll(code: number, reason: string, graceMs: number): Promise<void> };
  streams: Drainable & { closeAll(code: number, reason: string): void };
  /** Tunnel streams cannot move: they refuse new ones at once and run for the grace (edge/tunnels.ts). */
  tunnels: { drain(graceMs: number): Promise<void> };
}

export class Drain {
  private started: Promise<void> | undefined;
  private readonly starting: Array<() => void> = [];

  constructor(private readonly options: DrainOptions) {}

  /** `listener` runs as the drain begins (say, to report it to the core now, not at the next periodic report). */
  onStart(listener: () => void): void {
    this.starting.push(listener);
  }

  get active(): boolean {
    return this.started !== undefined;
  }

  /** Starts the drain (once); resolves when every client has been moved or closed. */
  run(): Promise<void> {
    // Started a microtask later, so that `active` is already true when onStart reports the drain.
    this.started ??= Promise.resolve().then(() => this.moveClientsAway());
    return this.started;
  }

  private async moveClientsAway(): Promise<void> {
    const { logger, clients, streams, graceMs } = this.options;
    logger.info({ clients: clients.sessionCount + streams.sessionCount }, 'draining');
    const tunnels = this.options.tunnels.drain(graceMs);
    for (const listener of this.starting) listener();
    const target = await findRedirectTarget(
      this.options.peers,
      this.options.region,
      this.options.peerTimeoutMs,
      logger,
      this.options.ca,
      this.options.proxy,
    );
    if (target) {
      logger.info({ target: target.id, clients: clients.sessionCount + streams.sessionCount }, 'redirecting clients');
      const redirect = {
        op: 'redirect',
        url: `${target.url.replace(/\/+$/, '')}${clientPath}`,
        reason: 'edge draining',
      } as const;
      await Promise.all([clients.redirectAll(redirect, graceMs), streams.redirectAll(redirect, graceMs)]);
    }
    streams.closeAll(closeCodes.draining, 'edge draining');
    await Promise.all([clients.closeAll(closeCodes.draining, 'edge draining', closeGraceMs), tunnels]);
  }
}
