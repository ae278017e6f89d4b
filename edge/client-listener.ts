// The edge's client WebSocket endpoint (/v1/ws): the protocol adapter chosen by subprotocol, one session per socket,
// heartbeats, and the ways sessions end (redirect and drain, close with a code).

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { ClientWebSocket, type ClientSocketOwner } from './client-web-socket.js';
import { closeCodes } from '../shared/errors.js';
import { pathOf, refuseUpgrade, upgraded } from '../shared/http.js';
import { clientPath, type RedirectOp } from '../shared/protocol.js';
import type { LimitsConfig } from '../shared/topology.js';
import { ClientSession, type SessionContext } from './client-session.js';
import { FlushScheduler } from './flush-scheduler.js';
import { InputTurns } from './input-turns.js';
import { OutboxBudget } from './outbox-budget.js';
import type { EdgeMetrics } from './metrics.js';
import type { IpLimiter } from './ip-limiter.js';
import type { EdgeStateKey } from './protocol-adapter.js';
import { adapterFor, chooseSubprotocol } from './protocol-adapters.js';
import { WsTransport, type WsTransportOptions } from './ws-transport.js';

export interface ClientListenerOptions {
  limits: LimitsConfig;
  /** Connections per client IP, shared with the HTTP-streaming sessions. */
  perIp: IpLimiter;
  sessionContext: SessionContext;
  metrics: EdgeMetrics;
  logger: Logger;
}

export class ClientListener implements ClientSocketOwner {
  /** The sockets that are sessions (each carries its transport, adapter and session). */
  private readonly sessions = new Set<ClientWebSocket>();
  /** Shared with the HTTP streaming sessions: one flush scheduler per edge. */
  readonly transportOptions: WsTransportOptions;
  private readonly wss: WebSocketServer;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly releaseIp: (this: Socket) => void;
  /** Sessions open now by protocol (native, stomp, mqtt), for metrics. */
  readonly sessionsByProtocol = new Map<string, number>();
  /** Clients' messages, a few per socket per turn. */
  private readonly turns = new InputTurns();
  /** State that protocol adapters keep per edge (AdapterContext.edgeState). */
  private readonly adapterState = new Map<EdgeStateKey<unknown>, unknown>();

  constructor(private readonly options: ClientListenerOptions) {
    const perIp = options.perIp;
    this.releaseIp = function releaseIp(this: Socket) {
      perIp.release(this.remoteAddress ?? '');
    };
    const budget = new OutboxBudget(options.limits.outboxTotalMaxBytes);
    this.transportOptions = {
      scheduler: new FlushScheduler(budget),
      outboxMaxBytes: options.limits.outboxMaxBytes,
      budget,
      onSlowConsumer: () => options.metrics.slowConsumers.inc(),
    };
    this.wss = new WebSocketServer({
      noServer: true,
      WebSocket: ClientWebSocket,
      // The sessions are tracked here; ws's own set would add a closure and a listener per socket.
      clientTracking: false,
      maxPayload: options.limits.maxMessageBytes,
      perMessageDeflate: false,
      handleProtocols: (offered) => chooseSubprotocol(offered),
    });
    // Clients that stop answering pings are dropped, so dead sockets do not hold subscriptions.
    this.heartbeat = setInterval(() => {
      for (const socket of this.sessions) socket.transport.heartbeat();
    }, options.limits.heartbeatMs);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Takes an HTTP upgrade for /v1/ws; anything else gets 404. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(req) !== clientPath) {
      return refuseUpgrade(socket, 404);
    }
    const ip = (socket as Socket).remoteAddress ?? '';
    if (!this.options.perIp.acquire(ip)) {
      this.options.metrics.rejectedConnections.inc({ reason: 'ip_limit' });
      return refuseUpgrade(socket, 429);
    }
    // One listener for every socket rather than a closure each: idle clients are the bulk of an edge's memory.
    // ('close' comes once; remoteAddress stays readable after it, as Node caches it when first read above.) Once the
    // socket is a session, the session's end releases the address instead (one listener less per socket).
    socket.on('close', this.releaseIp);
    this.wss.handleUpgrade(req, socket, head, (ws) =>
      this.accept(ws as ClientWebSocket, socket as Socket, req.headers),
    );
  }

  /** Sends every client `redirect`, then waits until they have left or `graceMs` has passed. */
  async redirectAll(op: RedirectOp, graceMs: number): Promise<void> {
    const gone = this.allClosed();
    for (const socket of this.sessions) socket.adapter.transport.sendOp(op);
    await Promise.race([gone, delay(graceMs, undefined, { ref: false })]);
  }

  /** Closes every client with `code`, waiting up to `graceMs` for them to take the close frame. */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    const gone = this.allClosed();
    for (const socket of this.sessions) socket.adapter.transport.close(code, reason);
    await Promise.race([gone, delay(graceMs, undefined, { ref: false })]);
  }

  /** Stops the heartbeat and drops whatever is still connected. */
  terminate(): void {
    clearInterval(this.heartbeat);
    for (const socket of this.sessions) socket.transport.terminate();
    this.wss.close();
  }

  private countSession(protocol: string, change: 1 | -1): void {
    this.sessionsByProtocol.set(protocol, (this.sessionsByProtocol.get(protocol) ?? 0) + change);
  }

  private allClosed(): Promise<unknown> {
    return Promise.all([...this.sessions].map((socket) => socket.transport.whenClosed()));
  }

  private accept(ws: ClientWebSocket, socket: Socket, headers: IncomingHttpHeaders): void {
    const { metrics, logger } = this.options;
    const factory = adapterFor(ws.protocol);
    const transport = new WsTransport(ws, socket, factory.nativeFormat ?? 'json', this.transportOptions);
    const adapter = factory.create({
      subprotocol: ws.protocol,
      outbox: transport,
      native: transport,
      limits: this.options.limits,
      edgeId: this.options.sessionContext.edgeId,
      logger,
      onProtocolError: () => metrics.protocolErrors.inc({ protocol: factory.protocol }),
      edgeState: <T>(key: EdgeStateKey<T>): T => {
        if (!this.adapterState.has(key)) this.adapterState.set(key, key.create());
        return this.adapterState.get(key) as T;
      },
    });
    const session = new ClientSession(
      adapter.transport,
      this.options.sessionContext,
      socket.remoteAddress ?? '',
      headers,
    );
    this.sessions.add(ws);
    this.countSession(factory.protocol, 1);
    metrics.connections.inc({ transport: 'websocket', protocol: factory.protocol });
    ws.attach(this, transport, adapter, session, factory.protocol);
    // A session now: `ws` handles its socket's errors, and its end releases the address.
    upgraded(socket);
    socket.off('close', this.releaseIp);
  }

  received(socket: ClientWebSocket, data: Buffer, isBinary: boolean): void {
    this.turns.receive(socket, data, isBinary);
  }

  /** A socket's messages, in turns (ClientWebSocket.handleInput). */
  handleInput(socket: ClientWebSocket, data: Buffer, isBinary: boolean): void {
    const { session, transport, adapter } = socket;
    // Before `connect` a stranger gets less room than a client.
    if (!session.greeted && data.length > this.options.limits.maxPreConnectMessageBytes) {
      transport.close(closeCodes.messageTooBig, 'message too big before connect');
      return;
    }
    try {
      adapter.receive(data, isBinary, session);
    } catch (error) {
      // A bug must cost one session, never the process and everyone else's.
      this.options.logger.error({ session: session.id, err: error }, 'client message failed');
      transport.close(closeCodes.internal, 'internal error');
    }
  }

  socketError(socket: ClientWebSocket, error: Error): void {
    this.options.logger.debug({ session: socket.session.id, err: error.message }, 'client socket error');
  }

  socketClosed(socket: ClientWebSocket): void {
    this.options.perIp.release(socket.session.address);
    this.turns.close(socket);
    this.sessions.delete(socket);
    this.countSession(socket.adapterLabel, -1);
    socket.adapter.closed();
    socket.session.closedByTransport();
  }
}
