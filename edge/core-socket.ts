// The WebSocket an edge opens to a core, for its uplink and its tunnel link alike: binary, no compression, through
// the edge's forward proxy when it has one, trusting its CA for wss://.

import { WebSocket } from 'ws';
import { proxyAgent, type ProxyRoute, type ProxySettings } from './proxy.js';

export interface CoreSocketOptions {
  /** The handshake must be done within twice this. */
  heartbeatMs: number;
  ca?: Buffer;
  proxy?: ProxyRoute;
}

/** Opens `url`; the proxy chosen for it, if any, comes back too (its problems are named in logs and /healthz). */
export function openCoreSocket(
  url: string,
  options: CoreSocketOptions,
): { socket: WebSocket; proxy: ProxySettings | undefined } {
  const proxy = options.proxy?.(url);
  // Hostname checking and rejectUnauthorized stay at Node's defaults: `ca` only replaces whom the edge trusts.
  const socket = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: 256 * 1024 * 1024,
    handshakeTimeout: options.heartbeatMs * 2,
    ca: options.ca,
    ...(proxy ? { agent: proxyAgent(proxy) } : {}),
  });
  socket.binaryType = 'nodebuffer';
  return { socket, proxy };
}
