// One benchmark server in a process of its own, so its CPU and memory are its own: a naive `ws` broadcast
// server, Socket.IO, or a relaymesh core or edge (given its core's URL, and its backend hooks as JSON when it has
// some). It tells the parent its URL over IPC and answers `stats`.

import { readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer, type WebSocket } from 'ws';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import type { HooksConfig } from '../shared/topology.js';

export type ServerKind = 'naive-ws' | 'socketio' | 'relaymesh-core' | 'relaymesh-edge';

export interface ServerStats {
  cpuMicros: number;
  rss: number;
  heapUsed: number;
  /** Memory of Buffers and other ArrayBuffers (outside the heap); tunnel processes report it. */
  arrayBuffers?: number;
  fds: number;
  /** relaymesh core: bytes sent on uplinks; edge: client sessions open. */
  uplinkBytesSent?: number;
  uplinkFramesSent?: number;
  sessions?: number;
}

async function listenHttp(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What users write first: every message from a publisher is sent to every subscriber, one send each. */
async function startNaiveWs(): Promise<string> {
  const subscribers = new Set<WebSocket>();
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    if (req.url === '/pub') {
      ws.on('message', (data, isBinary) => {
        for (const subscriber of subscribers) subscriber.send(data, { binary: isBinary });
      });
      return;
    }
    subscribers.add(ws);
    ws.on('close', () => subscribers.delete(ws));
  });
  return listenHttp(server);
}

/** Socket.IO 4.8 as its users run it for pub/sub: rooms per topic, WebSocket transport only, compression off. */
async function startSocketIo(): Promise<string> {
  const server = createServer();
  const io = new SocketIoServer(server, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    pingInterval: 600_000,
    pingTimeout: 600_000,
  });
  io.on('connection', (socket) => {
    socket.on('sub', (topic: string, ack?: () => void) => {
      void socket.join(topic);
      ack?.();
    });
    socket.on('pub', (topic: string, data: unknown) => io.to(topic).emit('msg', data));
  });
  return listenHttp(server);
}

const kind = process.argv[2] as ServerKind;
const logger = pino({ level: 'warn' });
let core: CoreHandle | undefined;
let edge: EdgeHandle | undefined;
let url: string;
if (kind === 'naive-ws') url = await startNaiveWs();
else if (kind === 'socketio') url = await startSocketIo();
else if (kind === 'relaymesh-core') url = (core = await startCore({ id: 'bench-core', logger })).url;
else {
  edge = await startEdge({
    id: `bench-edge-${process.pid}`,
    region: 'bench',
    cores: [{ id: 'bench-core', url: process.argv[3]! }],
    ...(process.argv[4] ? { hooks: JSON.parse(process.argv[4]) as HooksConfig } : {}),
    logger,
    // The benchmark's one publisher sends far more than a client may by default.
    limits: {
      maxSubscriptionsPerSession: 10,
      messagesPerSecond: 1_000_000,
      messageBurst: 1_000_000,
      maxConnectionsPerIp: 1_000_000,
    },
  });
  await edge.ready();
  url = edge.url;
}

async function stats(collectGarbage: boolean): Promise<ServerStats> {
  if (collectGarbage) {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
  }
  const usage = process.cpuUsage();
  const memory = process.memoryUsage();
  const result: ServerStats = {
    cpuMicros: usage.user + usage.system,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    fds: readdirSync('/proc/self/fd').length,
  };
  if (core) {
    const values = async (metric: typeof core.metrics.uplinkBytesSent): Promise<number> =>
      (await metric.get()).values.reduce((sum, value) => sum + value.value, 0);
    result.uplinkBytesSent = await values(core.metrics.uplinkBytesSent);
    result.uplinkFramesSent = await values(core.metrics.uplinkFramesSent);
  }
  if (edge) result.sessions = edge.sessionCount;
  return result;
}

process.on('message', (message) => {
  if (message === 'stats' || message === 'stats-gc')
    void stats(message === 'stats-gc').then((answer) => process.send!({ stats: answer }));
});
process.send!({ url });
process.on('disconnect', () => process.exit(0));
