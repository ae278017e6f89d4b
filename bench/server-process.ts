// A benchmark candidate in a process of its own: relaymesh (core + edge) or a naive `ws` broadcast server.
// It tells the parent its address over IPC and answers CPU-usage questions, so CPU is measured per server.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { pino } from 'pino';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';

export type CandidateKind = 'relaymesh' | 'naive-ws';

async function startNaiveWs(): Promise<string> {
  // What users write first: every message from a publisher is sent to every subscriber, one send each.
  const subscribers: WebSocket[] = [];
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    if (req.url === '/pub') {
      ws.on('message', (data, isBinary) => {
        for (const subscriber of subscribers) subscriber.send(data, { binary: isBinary });
      });
      return;
    }
    subscribers.push(ws);
    ws.on('close', () => subscribers.splice(subscribers.indexOf(ws), 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startRelaymesh(): Promise<string> {
  const logger = pino({ level: 'warn' });
  const core = await startCore({ id: 'bench-core', logger });
  const edge = await startEdge({ id: 'bench-edge', region: 'bench', cores: [{ id: core.id, url: core.url }], logger });
  await edge.ready();
  return edge.url;
}

const kind = process.argv[2] as CandidateKind;
const url = kind === 'relaymesh' ? await startRelaymesh() : await startNaiveWs();
process.on('message', (message) => {
  if (message === 'cpu') {
    const usage = process.cpuUsage();
    process.send!({ cpuMicros: usage.user + usage.system, rss: process.memoryUsage().rss });
  }
});
process.send!({ url });
process.on('disconnect', () => process.exit(0));
