// The edge's one uplink to a core: a binary WebSocket carrying batched msgpack frames through a bounded outbox
// (control frames first), with heartbeats, reconnect with backoff and jitter through the edge's cores in failover
// order (and back to the primary when it returns), publishes held across outages, requests answered by the core
// (edge/uplink-requests.ts); tunnel streams go on a tunnel link beside it, to the same core (edge/tunnel-link.ts).

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { backoffDelay } from '../shared/backoff.js';
import { Condition } from '../shared/condition.js';
import { beat, type Heartbeat } from '../shared/heartbeat.js';
import { decodeCoreFrames, encodeFrame, ownBytes } from '../shared/codec.js';
import { RelayError, closeCodes } from '../shared/errors.js';
import { edgeReportRow, type EdgeRow } from '../shared/mesh-status.js';
import { UplinkOutbox, type FrameClass } from '../shared/uplink-outbox.js';
import type { MuxStream, StreamCounters } from '../shared/stream-mux.js';
import {
  frameType,
  httpBaseOf,
  presenceMember,
  uplinkPath,
  type CoreFrame,
  type EdgeFrame,
  type Position,
  type PresenceAnswer,
} from '../shared/protocol.js';
import type { UplinkConfig } from '../shared/topology.js';
import { answersOk } from './health-check.js';
import { HeldPublishes, type HeldPublish } from './held-publishes.js';
import { closeCoreSocket, helloFrame, openCoreSocket } from './core-socket.js';
import { proxyProblem, type ProxyRoute } from './proxy.js';
import { TunnelLink } from './tunnel-link.js';
import { silentListener, type UplinkListener } from './uplink-listener.js';
import { UplinkLost, UplinkRequests, type Replay } from './uplink-requests.js';

export type { UplinkListener } from './uplink-listener.js';
export { UplinkLost } from './uplink-requests.js';

export interface CoreTarget {
  id: string;
  url: string;
}

export interface SubscribeAnswer {
  epoch: string;
  offset: number;
  recovered: boolean;
  /** When recovered: the messages after `since` up to `offset`, as [offset, payload]. */
  replay: Replay;
}

export interface UplinkOptions extends UplinkConfig {
  edgeId: string;
  region: string;
  /** In failover order: primary first, then disaster recovery. */
  cores: readonly CoreTarget[];
  /** Publishes held while no core is reachable. */
  maxHeldPublishes: number;
  logger: Logger;
  /** Called with the size of every WebSocket message sent and received, for metrics. */
  onTraffic?(direction: 'in' | 'out', bytes: number, frames: number): void;
  /** The secret this edge proves to its cores (answering their challenge); absent: the hello carries no proof. */
  secret?: string;
  /** The CA (PEM) trusted for wss:// cores. Default: Node's built-in CAs. */
  ca?: Buffer;
  /** Which forward proxy reaches a core, if any. Default: none, the edge connects directly. */
  proxy?: ProxyRoute;
  /** Keep a tunnel link beside the uplink (the mesh has tunnels). Default false. */
  tunnels?: boolean;
  /** Tunnel bytes received and not yet passed on beyond which the streams holding most are reset. */
  tunnelBufferMaxBytes: number;
  streamCounters?: StreamCounters;
}

type UplinkState = 'connecting' | 'connected' | 'closed';

export class Uplink {
  state: UplinkState = 'connecting';
  coreId = '';
  /** Why the last attempt to reach a core failed, for /healthz; undefined while connected. */
  problem: string | undefined;
  /** Publishes the core acknowledged, and connections made after the first one: counters for metrics. */
  published = 0;
  reconnects = 0;
  /** WebSocket messages each way. */
  readonly messages = { in: 0, out: 0 };
  private everConnected = false;
  /** Names this edge process in publish ids, so a restarted edge's ids never collide with its predecessor's. */
  private readonly instance = randomBytes(9).toString('base64url');
  private socket: WebSocket | undefined;
  /** The current socket's; frames are only sent on an open socket (whatever is for the core is sent again on connect). */
  private outbox: UplinkOutbox | undefined;
  /** The tunnel streams' connection, to the core of this one, when the mesh has tunnels. */
  private readonly tunnelLink: TunnelLink | undefined;
  private readonly requests = new UplinkRequests();
  private readonly publishes: HeldPublishes;
  private attempt = 0;
  private coreIndex = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private digestTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private failbackTimer: NodeJS.Timeout | undefined;
  /** Anything heard from the core (a frame, a pong) since the last ping: the core is trusted, so any sign of life counts. */
  private readonly heartbeat: Heartbeat = { alive: true };
  /** Whether the hello went out on the current socket: once per connection, however many challenges come. */
  private helloSent = false;
  private readonly stateChanges = new Condition(() => this.state);
  private listener: UplinkListener = silentListener;

  constructor(private readonly options: UplinkOptions) {
    this.publishes = new HeldPublishes(options.maxHeldPublishes, options.maxQueueBytes);
    if (options.tunnels)
      this.tunnelLink = new TunnelLink({
        ...options,
        instance: this.instance,
        onStream: (stream) => this.listener.onStream(stream),
      });
  }

  /** Who hears what the uplink brings: the edge's parts, built after the uplink they use. */
  listen(listener: UplinkListener): void {
    this.listener = listener;
  }

  start(): void {
    if (this.listener === silentListener) throw new Error('Uplink.listen() must come before start()');
    this.dial();
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Publishes waiting for the core's acknowledgement, held ones included. */
  get unacknowledgedPublishes(): number {
    return this.publishes.size;
  }

  /** Sends a `sub`; the answer comes to `onAnswer`. Not sent while disconnected: the edge resubscribes on connect. */
  subscribe(
    subscription: string,
    since: Position | null,
    onAnswer: (answer: SubscribeAnswer) => void,
    onError: (error: RelayError) => void,
  ): void {
    if (!this.connected) return;
    const id = this.requests.newId();
    this.requests.wait(
      id,
      (frame, replay) => {
        if (frame[0] !== frameType.subok) return;
        const [, , epoch, offset, recovered] = frame;
        onAnswer({ epoch, offset, recovered, replay });
      },
      onError,
    );
    this.send([frameType.sub, id, subscription, since ? [since.epoch, since.offset] : null]);
  }

  /** A presence report (edge/presence.ts); while disconnected it is dropped, as everything is reported on connect. */
  sendPresence(frame: EdgeFrame): void {
    if (this.connected) this.send(frame, 'message');
  }

  /** Who is present on `topic` in the whole mesh, as the core answers; waits up to `holdMs` for a down uplink. */
  async queryPresence(topic: string, holdMs: number): Promise<PresenceAnswer> {
    await this.whenConnected(holdMs);
    return new Promise((resolve, reject) => {
      const id = this.requests.newId();
      this.requests.wait(
        id,
        (frame) => {
          if (frame[0] !== frameType.presenceAnswer)
            return reject(new RelayError('internal', 'the core answered a presence question with another frame'));
          const [, , count, rows] = frame;
          const members = rows.map(([session, user, edge]) => presenceMember(session, user, edge));
          resolve({ count, members });
        },
        reject,
      );
      this.send([frameType.presenceQuery, id, topic], 'message');
    });
  }

  /** Tunnel bytes received on the tunnel link and not yet passed on (at most a window per stream). */
  get tunnelBufferedBytes(): number {
    return this.tunnelLink?.tunnelBufferedBytes ?? 0;
  }

  /** The tunnel link's state, for /healthz; undefined when the mesh has no tunnels. */
  get tunnelLinkState(): 'connected' | 'connecting' | undefined {
    if (!this.tunnelLink) return undefined;
    return this.tunnelLink.ready ? 'connected' : 'connecting';
  }

  /** Resolves once the tunnel link is up, at once when the mesh has no tunnels; rejects after `timeoutMs`. */
  async whenTunnelLinkReady(timeoutMs: number): Promise<void> {
    await this.tunnelLink?.whenReady(timeoutMs);
  }

  /** A new tunnel stream to `tunnel`'s service through the core; undefined while the tunnel link is down. */
  openStream(tunnel: string): MuxStream | undefined {
    return this.connected ? this.tunnelLink?.openStream(tunnel) : undefined;
  }

  /** Tells the core this edge's health and load now (say, when it starts draining). */
  reportStatus(): void {
    if (this.connected) this.send([frameType.edgeStatus, edgeReportRow(this.listener.status())]);
  }

  unsubscribe(subscription: string): void {
    if (this.connected) this.send([frameType.unsub, subscription]);
  }

  /**
   * Resolves once the core has sequenced the message; while no core is reachable it waits up to `holdMs`. Refused at
   * once (`unavailable`) while the uplink has `maxQueueBytes` waiting: a core that does not keep up slows publishers
   * down instead of growing this edge without bound.
   */
  publish(topic: string, payload: Uint8Array, holdMs: number, origin = ''): Promise<Position> {
    if (this.state === 'closed') return Promise.reject(new RelayError('unavailable', 'edge shutting down'));
    if ((this.outbox?.pendingBytes ?? 0) > this.options.maxQueueBytes) {
      return Promise.reject(new RelayError('unavailable', 'the uplink to the core is full; publish again later'));
    }
    const id = this.requests.newId();
    const acknowledged = this.publishes.add(id, topic, payload, origin, holdMs, this.connected);
    if (this.connected) this.send(publishFrame({ id, topic, payload, origin }), 'message');
    return acknowledged;
  }

  /** A hub's list of the edges behind it, for the core's mesh view. */
  reportEdgesBehind(rows: EdgeRow[]): void {
    if (this.connected) this.send([frameType.meshEdges, rows]);
  }

  /**
   * The messages of `topic` in [from, to] of `epoch`, or null when the core no longer holds them all (or they are more
   * than it replays at once). A down uplink, or one lost on the way, is waited out within `holdMs` (asked again once
   * it is back) rather than taken as a loss. Aborting `signal` tells the core to stop, and rejects.
   */
  async history(
    topic: string,
    epoch: string,
    from: number,
    to: number,
    holdMs: number,
    signal?: AbortSignal,
  ): Promise<Replay | null> {
    const deadline = Date.now() + holdMs;
    for (;;) {
      try {
        return await this.askHistory(topic, epoch, from, to, Math.max(0, deadline - Date.now()), signal);
      } catch (error) {
        if (error instanceof UplinkLost && !signal?.aborted && Date.now() < deadline) continue;
        throw error;
      }
    }
  }

  /** One `history` request, on the uplink as it is now. */
  private async askHistory(
    topic: string,
    epoch: string,
    from: number,
    to: number,
    holdMs: number,
    signal?: AbortSignal,
  ): Promise<Replay | null> {
    await this.whenConnected(holdMs);
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const id = this.requests.newId();
      const abort = (): void => {
        if (!this.requests.forget(id)) return;
        if (this.connected) this.send([frameType.cancel, id]);
        reject(new RelayError('not_subscribed', 'replay no longer wanted'));
      };
      this.requests.wait(
        id,
        (frame, replay) => {
          signal?.removeEventListener('abort', abort);
          if (frame[0] !== frameType.historyEnd) return;
          const [, , recovered] = frame;
          resolve(recovered ? replay : null);
        },
        (error) => {
          signal?.removeEventListener('abort', abort);
          reject(error);
        },
      );
      signal?.addEventListener('abort', abort, { once: true });
      this.send([frameType.history, id, topic, epoch, from, to]);
    });
  }

  /** Resolves once the uplink is connected; rejects `unavailable` after `timeoutMs` or when the edge closes. */
  async whenConnected(timeoutMs: number): Promise<void> {
    await this.stateChanges.until(
      (state) => {
        if (state === 'closed') throw new RelayError('unavailable', 'edge shutting down');
        return state === 'connected';
      },
      timeoutMs,
      () => new RelayError('unavailable', `no uplink to a core for ${timeoutMs} ms`),
    );
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.stopTimers();
    clearTimeout(this.retryTimer);
    const shuttingDown = new RelayError('unavailable', 'edge shutting down');
    this.requests.failAll(shuttingDown);
    this.publishes.failAll(shuttingDown);
    this.stateChanges.notify();
    await this.tunnelLink?.close();
    this.outbox?.flush();
    await closeCoreSocket(this.socket);
  }

  private send(frame: EdgeFrame, frameClass: FrameClass = 'control'): void {
    this.outbox?.push(encodeFrame(frame), frameClass);
  }

  private dial(): void {
    if (this.state === 'closed') return;
    const core = this.options.cores[this.coreIndex]!;
    const { socket, proxy } = openCoreSocket(core.url.replace(/\/+$/, '') + uplinkPath, this.options);
    this.socket = socket;
    socket.on('open', () => {
      this.outbox?.close();
      this.outbox = new UplinkOutbox({
        send: (message, sent) => {
          if (socket.readyState !== WebSocket.OPEN) return;
          this.messages.out++;
          socket.send(message, sent);
        },
        buffered: () => socket.bufferedAmount,
        onSend: (bytes, frames) => this.options.onTraffic?.('out', bytes, frames),
      });
      this.helloSent = false;
      // With a secret the hello waits for the core's challenge, whose nonce the proof covers.
      if (!this.options.secret) this.sendHello();
      // A core that accepts the socket but never welcomes the edge is as dead as one that refuses it.
      const welcomeTimer = setTimeout(() => {
        if (this.socket !== socket || this.connected) return;
        if (!this.helloSent)
          this.options.logger.warn(
            { core: core.id },
            'no challenge from the core, so this edge cannot prove its identity (is it configured with edge secrets?); reconnecting',
          );
        socket.terminate();
      }, this.options.heartbeatMs * 2);
      socket.once('close', () => clearTimeout(welcomeTimer));
    });
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary, core.id));
    socket.on('pong', () => {
      this.heartbeat.alive = true;
    });
    socket.on('error', (error) => {
      this.problem = proxy ? proxyProblem(proxy, error) : error.message;
      this.options.logger.warn(
        { core: core.id, ...(proxy ? { proxy: proxy.url } : {}), err: this.problem },
        'uplink error',
      );
    });
    socket.on('close', (code, reason) => this.lost(socket, core.id, code, reason.toString()));
  }

  private receive(data: Buffer, isBinary: boolean, coreId: string): void {
    // A closing edge acts on nothing more from its core: a late welcome would bring the uplink (and its tunnel link)
    // back, a message would reach clients being closed.
    if (this.state === 'closed') return;
    this.heartbeat.alive = true;
    let frames: CoreFrame[];
    try {
      if (!isBinary) throw new RelayError('bad_request', 'uplink messages are binary');
      frames = decodeCoreFrames(data);
    } catch (error) {
      this.options.logger.error({ core: coreId, err: (error as Error).message }, 'bad message from core; reconnecting');
      this.socket?.terminate();
      return;
    }
    this.messages.in++;
    this.options.onTraffic?.('in', data.length, frames.length);
    for (const frame of frames) {
      try {
        this.handle(frame, coreId);
      } catch (error) {
        // One frame the edge cannot use (say, a payload that is not msgpack) must not take the others with it.
        this.options.logger.error({ core: coreId, frame: frame[0], err: error }, 'uplink frame failed');
      }
    }
  }

  private handle(frame: CoreFrame, coreId: string): void {
    switch (frame[0]) {
      case frameType.msg: {
        const [, topic, epoch, offset, payload] = frame;
        // The edge may cache it: its own bytes, not a view that keeps the core's whole batch alive.
        return this.listener.onMessage(topic, epoch, offset, ownBytes(payload));
      }
      case frameType.welcome:
        return this.established(coreId);
      case frameType.challenge: {
        const [, nonce] = frame;
        return this.answerChallenge(nonce);
      }
      case frameType.replay: {
        const [, id, offset, payload] = frame;
        return this.requests.replayed(id, offset, ownBytes(payload));
      }
      case frameType.puback: {
        const [, id, epoch, offset] = frame;
        if (this.publishes.acknowledge(id, { epoch, offset })) this.published++;
        return;
      }
      case frameType.error: {
        const [, id, code, message] = frame;
        const error = new RelayError(code, message);
        if (!this.publishes.refuse(id, error)) this.requests.refused(id, error);
        return;
      }
      case frameType.meshView: {
        const [, cores, edges] = frame;
        return this.listener.onMeshView(cores, edges);
      }
      case frameType.digestMismatch: {
        const [, coreSubscriptions] = frame;
        this.options.logger.warn(
          { core: coreId, coreHolds: coreSubscriptions.length },
          'subscriptions differ between edge and core; repairing',
        );
        return this.listener.onDigestMismatch(coreSubscriptions);
      }
      case frameType.subok:
      case frameType.historyEnd:
      case frameType.presenceAnswer:
        return this.requests.answered(frame);
      case frameType.presenceEvent: {
        const [, topic, joined, session, user, edge] = frame;
        return this.listener.onPresenceEvent(topic, joined, session, user, edge);
      }
      case frameType.streamOpen:
      case frameType.streamData:
      case frameType.streamWindow:
      case frameType.streamEnd:
      case frameType.streamReset:
        this.options.logger.error({ core: coreId }, 'a tunnel stream on the uplink, not the tunnel link; reconnecting');
        this.socket?.close(closeCodes.protocolViolation, 'tunnel streams go on the tunnel link');
        return;
    }
  }

  /** `nonce`: the core's challenge, which the proof covers; absent, the hello goes unasked, without proof. */
  private sendHello(nonce?: string): void {
    this.helloSent = true;
    this.send(helloFrame({ ...this.options, instance: this.instance }, nonce));
  }

  /** Without a secret the hello went out unasked (a core that checks identity refuses it); a repeated challenge is ignored. */
  private answerChallenge(nonce: string): void {
    if (!this.options.secret || this.helloSent) return;
    this.sendHello(nonce);
  }

  private established(coreId: string): void {
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    this.state = 'connected';
    this.coreId = coreId;
    this.problem = undefined;
    this.attempt = 0;
    this.options.logger.info({ core: coreId }, 'uplink connected');
    this.tunnelLink?.follow({ id: coreId, url: this.options.cores[this.coreIndex]!.url });
    this.startTimers();
    // Publishes that were held, or in flight when the last link died, go first and in order; the core answers
    // one it already sequenced with its position instead of sequencing it again.
    for (const held of this.publishes.release()) this.send(publishFrame(held));
    this.listener.onConnected();
    this.reportStatus();
    this.stateChanges.notify();
  }

  private startTimers(): void {
    this.stopTimers();
    this.heartbeat.alive = true;
    // A ping each period; silence for a whole period means the path is dead even if TCP has not noticed.
    this.heartbeatTimer = setInterval(() => {
      if (beat(this.heartbeat, () => this.socket?.ping())) return;
      this.options.logger.warn({ core: this.coreId }, 'uplink heartbeat missed; reconnecting');
      this.socket?.terminate();
    }, this.options.heartbeatMs);
    this.digestTimer = setInterval(
      () => this.send([frameType.digest, ...this.listener.digest()]),
      this.options.digestMs,
    );
    this.statusTimer = setInterval(() => this.reportStatus(), this.options.statusMs);
    if (this.coreIndex > 0) this.failbackTimer = setInterval(() => void this.tryFailback(), this.options.failbackMs);
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.digestTimer);
    clearInterval(this.statusTimer);
    clearInterval(this.failbackTimer);
  }

  /** On a disaster-recovery core: once the primary answers its health check, leave for it (the next dial starts there). */
  private async tryFailback(): Promise<void> {
    const primary = this.options.cores[0]!;
    const health = `${httpBaseOf(primary.url)}/healthz`;
    if (
      !(await answersOk(health, this.options.ca, this.options.heartbeatMs, this.options.proxy)) ||
      !this.connected ||
      this.coreIndex === 0
    )
      return;
    this.options.logger.info({ core: this.coreId, primary: primary.id }, 'primary core is back; failing back');
    this.socket?.close(1000, 'failing back to the primary core');
  }

  private lost(socket: WebSocket, coreId: string, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.stopTimers();
    this.outbox?.close();
    this.outbox = undefined;
    // Tunnel streams live with the uplink: they end `lost` (TCP reset, 4504), and the link follows it to its next core.
    this.tunnelLink?.follow(undefined);
    const wasConnected = this.state === 'connected';
    if (this.state !== 'closed') this.state = 'connecting';
    this.requests.failAll(new UplinkLost());
    this.publishes.holdAll();
    if (wasConnected) {
      this.options.logger.warn({ core: coreId, code, reason }, 'uplink lost');
      this.listener.onDisconnected();
    }
    if (code === closeCodes.unauthorized) this.problem = "the core refused this edge's identity";
    if (code === closeCodes.edgeIdInUse) this.problem = "the core holds another uplink under this edge's id";
    // Not fatal: the secret may be rotated on the core or here, so the edge keeps trying with backoff.
    if (code === closeCodes.unauthorized)
      this.options.logger.error({ core: coreId, code, reason }, "the core refused this edge's identity");
    if (code === closeCodes.edgeIdInUse)
      this.options.logger.error(
        { core: coreId, code, reason },
        "the core holds another uplink under this edge's id (another process with the same id, or the old link not yet timed out); retrying",
      );
    if (this.state === 'closed') return;
    // After a working link dies, start again from the primary; after a failed dial, try the next core.
    this.coreIndex = wasConnected ? 0 : (this.coreIndex + 1) % this.options.cores.length;
    this.attempt++;
    const delay = backoffDelay(this.attempt, {
      baseMs: this.options.reconnectBaseMs,
      maxMs: this.options.reconnectMaxMs,
    });
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }
}

/** A publish of this edge's own, or one a hub relays with the identity its edge gave it. */
function publishFrame({ id, topic, payload, origin }: HeldPublish): EdgeFrame {
  return origin ? [frameType.pubFrom, id, topic, payload, origin] : [frameType.pub, id, topic, payload];
}
