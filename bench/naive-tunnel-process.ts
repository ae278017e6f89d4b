// The baseline tunnel peer: a naive per-connection WebSocket↔TCP proxy, built the way websockify-style tools are, in
// a process of its own. Role `remote`: a ws server that dials the service for each WebSocket (the path names which).
// Role `local`: a TCP listener per service that opens a WebSocket of its own to `remote` for every connection it
// accepts. No multiplexing, so every connection pays its own WebSocket handshake across the WAN.

import { createServer, connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws';
import type { Address } from '../shared/topology.js';
import { answerStats } from './process-stats.js';

export type NaiveTunnelSpec =
  { role: 'remote'; services: Record<string, Address> } | { role: 'local'; remoteUrl: string; services: string[] };

/** Bytes both ways with each side's backpressure (pipe); an error or close on one side ends the other. */
function splice(socket: Socket, ws: Duplex): void {
  socket.on('error', () => ws.destroy());
  ws.on('error', () => socket.destroy());
  socket.once('close', () => ws.destroy());
  ws.once('close', () => socket.destroy());
  socket.pipe(ws).pipe(socket);
}

const spec = JSON.parse(process.argv[2]!) as NaiveTunnelSpec;
if (spec.role === 'remote') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    const service = spec.services[(req.url ?? '/').slice(1)];
    if (!service) return ws.close(4404, 'no such service');
    splice(connect({ ...service, noDelay: true }), createWebSocketStream(ws));
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  process.send!({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}` });
} else {
  const addresses: Record<string, Address> = {};
  for (const name of spec.services) {
    const server = createServer({ noDelay: true }, (socket) => {
      const ws = new WebSocket(`${spec.remoteUrl}/${name}`, { perMessageDeflate: false });
      splice(socket, createWebSocketStream(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    addresses[name] = { host: '127.0.0.1', port: (server.address() as { port: number }).port };
  }
  process.send!({ addresses });
}
answerStats();
process.on('disconnect', () => process.exit(0));
