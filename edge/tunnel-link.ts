// The edge's tunnel link: a second WebSocket to the core its uplink is on, carrying tunnel streams only
// (shared/stream-mux.ts). Bulk tunnel bytes then queue in a socket of their own, never ahead of pub/sub on the uplink.
// It proves the edge's identity as the uplink does, follows the uplink from core to core, and its streams end with it.

import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { backoffDelay } from '../shared/backoff.js';
import { Condition } from '../shared/condition.js';
import { decodeCoreFrames, encodeFrame } from '../shared/codec.js';
import { RelayError, closeCodes } from '../shared/errors.js';
import { beat, type Heartbeat } from '../shared/heartbeat.js';
import { frameType, tunnelLinkPath, type CoreFrame, type EdgeFrame } from '../shared/protocol.js';
import { RoundTrip } from '../shared/round-trip.js';
import { StreamMux, tunnelLinkLowWaterBytes, type MuxStream, type StreamCounters } from '../shared/stream-mux.js';
import { UplinkOutbox } from '../shared/uplink-outbox.js';
import {
  closeCoreSocket,
  helloFrame,
  openCoreSocket,
  type CoreSocketOptions,
  type EdgeIdentity,
} from './core-socket.js';
import { proxyProblem } from './proxy.js';
import type { CoreTarget } from './uplink.js';

/** The identity is the uplink's, instance included: the core takes a tunnel link only beside that uplink. */
export interface TunnelLinkOptions extends CoreSocketOptions, EdgeIdentity {
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  logger: Logger;
  /** Tunnel bytes received and not yet passed on beyond which the streams holding most are reset. */
  tunnelBufferMaxBytes: number;
  streamCounters?: StreamCounters;
  /** The core opened a stream: attach to it or reset it, before returning. */
  onStream(stream: MuxStream): void;
}

export class TunnelLink {
  /** The core whose tunnel link this edge keeps open; undefined: none (the uplink is down). */
  private target: CoreTarget | undefined;
  private socket: WebSocket | undefined;
  private outbox: UplinkOutbox | undefined;
  /** The streams of the current connection, from the welcome on. */
  private streams: StreamMux | undefined;
  private helloSent = false;
  private readonly heartbeat: Heartbeat = { alive: true };
  private roundTrip = new RoundTrip();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly changes = new Condition(() => this.ready);

  constructor(private readonly options: TunnelLinkOptions) {}

  /** Keeps a link open to `core` (the uplink's, after each of its welcomes), or to none; an old link goes first. */
  follow(core: CoreTarget | undefined): void {
    this.target = core;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    const old = this.socket;
    if (old) {
      // Gone for us now, whenever its close comes: its streams end, and a new link starts at once.
      this.socket = undefined;
      this.detach();
      old.terminate();
    }
    if (core) this.dial();
  }

  /** Resolves once the link is up; rejects after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<void> {
    await this.changes.until(
      (ready) => ready,
      timeoutMs,
      () => new RelayError('unavailable', `no tunnel link to a core for ${timeoutMs} ms`),
    );
  }

  get ready(): boolean {
    return this.streams !== undefined;
  }

  /** Tunnel bytes received and not yet passed on (at most a window per stream). */
  get tunnelBufferedBytes(): number {
    return this.streams?.buffered ?? 0;
  }

  /** A new stream to `tunnel`'s service through the core; undefined while the link is down. */
  openStream(tunnel: string): MuxStream | undefined {
    return this.streams?.open(tunnel);
  }

  async close(): Promise<void> {
    this.target = undefined;
    clearTimeout(this.retryTimer);
    await closeCoreSocket(this.socket);
  }

  private dial(): void {
    const core = this.target;
    if (!core) return;
    const { socket, proxy } = openCoreSocket(core.url.replace(/\/+$/, '') + tunnelLinkPath, this.options);
    this.socket = socket;
    // A socket this link has left (follow() moved on) is heard no more: only its close, which is ignored too.
    const current = (): boolean => this.socket === socket;
    socket.on('open', () => {
      if (!current()) return;
      this.outbox = new UplinkOutbox({
        send: (message, sent) => {
          if (socket.readyState === WebSocket.OPEN) socket.send(message, sent);
        },
        buffered: () => socket.bufferedAmount,
        lowWaterBytes: tunnelLinkLowWaterBytes,
      });
      this.helloSent = false;
      // With a secret the hello waits for the core's challenge, whose nonce the proof covers.
      if (!this.options.secret) this.sendHello();
      const welcomeTimer = setTimeout(() => {
        if (current() && !this.ready) socket.terminate();
      }, this.options.heartbeatMs * 2);
      socket.once('close', () => clearTimeout(welcomeTimer));
    });
    socket.on('message', (data, isBinary) => {
      if (current()) this.receive(socket, data as Buffer, isBinary, core.id);
    });
    socket.on('pong', (payload) => {
      if (!current()) return;
      this.heartbeat.alive = true;
      this.roundTrip.answered(payload);
    });
    socket.on('error', (error) =>
      this.options.logger.warn(
        { core: core.id, err: proxy ? proxyProblem(proxy, error) : error.message },
        'tunnel link error',
      ),
    );
    socket.on('close', (code, reason) => this.lost(socket, core.id, code, reason.toString()));
  }

  private send(frame: EdgeFrame): void {
    this.outbox?.push(encodeFrame(frame), 'control');
  }

  /** `nonce`: the core's challenge, which the proof covers; absent, the hello goes unasked, without proof. */
  private sendHello(nonce?: string): void {
    this.helloSent = true;
    this.send(helloFrame(this.options, nonce));
  }

  private receive(socket: WebSocket, data: Buffer, isBinary: boolean, coreId: string): void {
    this.heartbeat.alive = true;
    let frames: CoreFrame[];
    try {
      if (!isBinary) throw new Error('tunnel link messages are binary');
      frames = decodeCoreFrames(data);
    } catch (error) {
      this.options.logger.error(
        { core: coreId, err: (error as Error).message },
        'bad tunnel link message; reconnecting',
      );
      return void socket.terminate();
    }
    for (const frame of frames) {
      let problem: string | undefined;
      try {
        problem = this.handle(frame, coreId);
      } catch (error) {
        // A frame this edge cannot handle must not take the process with it: the link starts again.
        problem = `frame ${frame[0]} failed: ${(error as Error).message}`;
      }
      if (problem === undefined) continue;
      this.options.logger.error({ core: coreId, err: problem }, 'protocol violation by the core; reconnecting');
      // Nothing more of this connection is heard (its streams end now), and the core is told why.
      this.socket = undefined;
      this.detach();
      socket.close(closeCodes.protocolViolation, 'tunnel link protocol violation');
      return this.retry();
    }
  }

  /** What makes `frame` a protocol violation, if anything. */
  private handle(frame: CoreFrame, coreId: string): string | undefined {
    switch (frame[0]) {
      case frameType.challenge: {
        const [, nonce] = frame;
        if (this.options.secret && !this.helloSent) this.sendHello(nonce);
        return undefined;
      }
      case frameType.welcome:
        return this.established(coreId);
      case frameType.streamOpen:
      case frameType.streamData:
      case frameType.streamWindow:
      case frameType.streamEnd:
      case frameType.streamReset:
        return this.streams ? this.streams.receive(frame) : 'a tunnel stream frame before the welcome';
      default:
        return `frame ${frame[0]} on the tunnel link`;
    }
  }

  private established(coreId: string): string | undefined {
    if (this.streams) return 'welcome twice';
    this.attempt = 0;
    this.roundTrip = new RoundTrip();
    this.streams = new StreamMux({
      side: 'edge',
      sendControl: (frame) => this.send(frame),
      wake: () => this.outbox?.wake(),
      onOpen: (stream) => this.options.onStream(stream),
      maxBufferedBytes: this.options.tunnelBufferMaxBytes,
      counters: this.options.streamCounters,
      roundTripMs: () => this.roundTrip.ms,
    });
    this.outbox?.carry(this.streams);
    this.heartbeat.alive = true;
    // A first round trip now rather than a heartbeat later: windows wait for one before they grow.
    this.socket?.ping(this.roundTrip.stamp());
    // Silence for a whole period means the path is dead even if TCP has not noticed.
    this.heartbeatTimer = setInterval(() => {
      if (!beat(this.heartbeat, () => this.socket?.ping(this.roundTrip.stamp()))) this.socket?.terminate();
    }, this.options.heartbeatMs);
    this.options.logger.info({ core: coreId }, 'tunnel link connected');
    this.changes.notify();
    return undefined;
  }

  /** The current connection is over for this link: timers stop, and its streams end. */
  private detach(): void {
    clearInterval(this.heartbeatTimer);
    this.outbox?.close();
    this.outbox = undefined;
    // A byte stream cannot be resumed on another connection: each one ends `lost` (TCP reset, 4504).
    this.streams?.close();
    this.streams = undefined;
    this.changes.notify();
  }

  private lost(socket: WebSocket, coreId: string, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    const wasReady = this.ready;
    this.detach();
    if (wasReady) this.options.logger.warn({ core: coreId, code, reason }, 'tunnel link lost');
    else if (code === closeCodes.unauthorized || code === closeCodes.edgeIdInUse)
      this.options.logger.error({ core: coreId, code, reason }, 'the core refused the tunnel link; retrying');
    this.retry();
  }

  /** Dials the link's core again after a backoff, unless the link has no core to follow any more. */
  private retry(): void {
    if (!this.target) return;
    this.attempt++;
    const delay = backoffDelay(this.attempt, {
      baseMs: this.options.reconnectBaseMs,
      maxMs: this.options.reconnectMaxMs,
    });
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }
}
