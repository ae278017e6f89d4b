// startEdge: one edge node — the client WebSocket listener, sessions, interest table and fan-out,
// the uplink to its cores, and the HTTP API, on one port.

import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeClientMessage } from '../shared/codec.js';
import { closeCodes } from '../shared/errors.js';
import { closeServer, listen, urlOf } from '../shared/listen.js';
import { clientPath, subprotocols, type ClientFormat } from '../shared/protocol.js';
import { defaultLimits, defaultUplink, type Address, type LimitsConfig, type UplinkConfig } from '../shared/topology.js';
import { ClientSession, type SessionContext } from './client-session.js';
import { FlushScheduler } from './flush-scheduler.js';
import { edgeHttpHandler } from './http-api.js';
import { InterestTable } from './interest-table.js';
import { createEdgeMetrics } from './metrics.js';
import { Uplink, type CoreTarget } from './uplink.js';
import { WsTransport } from './ws-transport.js';

/** How long `close()` waits for clients to answer the close frame before dropping them. */
const closeGraceMs = 1000;

export interface EdgeOptions {
  id: string;
  region: string;
  /** The cores to use, in failover order (primary first). */
  cores: readonly CoreTarget[];
  /** Where to listen; default 127.0.0.1 on an ephemeral port. */
  listen?: Address;
  limits?: Partial<LimitsConfig>;
  uplink?: Partial<UplinkConfig>;
  /** Newest messages kept per topic for local replay. Default 256. */
  recentMessages?: number;
  /** Largest `POST /v1/publish` body. Default 1 MiB. */
  maxPublishBodyBytes?: number;
  logger?: Logger;
}

export interface EdgeHandle {
  readonly id: string;
  /** Base URL of this edge: ws://host:port (clients connect to `${url}/v1/ws`). */
  readonly url: string;
  readonly address: Address;
  readonly uplink: Uplink;
  readonly metrics: ReturnType<typeof createEdgeMetrics>;
  readonly sessionCount: number;
  /** Resolves once the uplink to a core is up (default wait 10 s). */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startEdge(options: EdgeOptions): Promise<EdgeHandle> {
  if (options.cores.length === 0) throw new Error(`edge ${options.id}: no cores to connect to`);
  const logger = (options.logger ?? pino()).child({ edge: options.id });
  const limits: LimitsConfig = { ...defaultLimits, ...options.limits };
  const sessions = new Set<ClientSession>();
  const transports = new Set<WsTransport>();
  const scheduler = new FlushScheduler();

  const uplink: Uplink = new Uplink({
    ...defaultUplink,
    ...options.uplink,
    edgeId: options.id,
    region: options.region,
    cores: options.cores,
    maxHeldPublishes: limits.maxHeldPublishes,
    logger,
    handlers: {
      onConnected: () => interest.onUplinkConnected(),
      onDisconnected: () => interest.onUplinkDisconnected(),
      onMessage: (topic, epoch, offset, payload) => interest.onMessage(topic, epoch, offset, payload),
      digest: () => interest.digest(),
      onDigestMismatch: (coreSubscriptions) => interest.repair(coreSubscriptions),
    },
    onTraffic: (direction, bytes, frames) => {
      metrics.uplinkBytes.inc({ direction }, bytes);
      metrics.uplinkFrames.inc({ direction }, frames);
    },
  });
  const interest = new InterestTable({
    uplink,
    logger,
    recentMessages: options.recentMessages ?? 256,
    holdMs: limits.publishHoldMs,
    onRefused: (subscription, error) => (subscription.session as ClientSession).refused(subscription, error),
  });
  const metrics = createEdgeMetrics(options.id, {
    sessions: () => sessions.size,
    topics: () => interest.topicCount,
    patterns: () => interest.patternCount,
    deliveries: () => interest.deliveries,
    uplinkConnected: () => uplink.connected,
  });
  const sessionContext: SessionContext = { edgeId: options.id, region: options.region, limits, interest, uplink, logger };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxMessageBytes,
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(subprotocols.msgpack) ? subprotocols.msgpack : offered.has(subprotocols.json) ? subprotocols.json : false),
  });

  const acceptClient = (ws: WebSocket, socket: Socket): void => {
    const format: ClientFormat = ws.protocol === subprotocols.msgpack ? 'msgpack' : 'json';
    const transport = new WsTransport(ws, socket, {
      format,
      scheduler,
      outboxMaxBytes: limits.outboxMaxBytes,
      onSlowConsumer: () => metrics.slowConsumers.inc(),
    });
    const session = new ClientSession(transport, sessionContext);
    sessions.add(session);
    transports.add(transport);
    metrics.connections.inc({ transport: 'websocket' });
    ws.on('message', (data, isBinary) => {
      transport.heard();
      session.receive(decodeClientMessage(data as Buffer, isBinary, format));
    });
    ws.on('pong', () => transport.heard());
    ws.on('error', (error) => logger.debug({ session: session.id, err: error.message }, 'client socket error'));
    ws.on('close', () => {
      sessions.delete(session);
      transports.delete(transport);
      session.closedByTransport();
    });
  };

  const server = createServer(edgeHttpHandler({
    id: options.id, uplink, metrics, logger,
    maxBodyBytes: options.maxPublishBodyBytes ?? 1024 * 1024,
    maxMessageBytes: limits.maxMessageBytes,
    publishHoldMs: limits.publishHoldMs,
  }));
  server.headersTimeout = limits.headerTimeoutMs;
  server.requestTimeout = limits.headerTimeoutMs * 3;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://edge').pathname !== clientPath) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => acceptClient(ws, socket as Socket));
  });

  // Clients that stop answering pings are dropped, so dead sockets do not hold subscriptions.
  const heartbeat = setInterval(() => {
    for (const transport of transports) transport.heartbeat();
  }, limits.heartbeatMs);

  const address = await listen(server, options.listen ?? { host: '127.0.0.1', port: 0 });
  logger.info({ address: `${address.host}:${address.port}`, cores: options.cores.map((core) => core.id) }, 'edge listening');
  uplink.start();

  return {
    id: options.id,
    url: urlOf('ws', address),
    address,
    uplink,
    metrics,
    get sessionCount() {
      return sessions.size;
    },
    ready: (timeoutMs = 10_000) => uplink.whenConnected(timeoutMs),
    async close() {
      clearInterval(heartbeat);
      // Give clients a moment to take the 4503 close frame, so they reconnect at once instead of timing out.
      const clientsGone = Promise.all([...wss.clients].map((ws) => new Promise((resolve) => ws.once('close', resolve))));
      for (const transport of transports) transport.close(closeCodes.draining, 'edge shutting down');
      await Promise.race([clientsGone, delay(closeGraceMs, undefined, { ref: false })]);
      await uplink.close();
      for (const ws of wss.clients) ws.terminate();
      await closeServer(server);
      wss.close();
    },
  };
}
