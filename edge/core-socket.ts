// The WebSocket an edge opens to a core, for its uplink and its tunnel link alike: binary, no compression, through
// the edge's forward proxy when it has one, trusting its CA for wss://; the hello it says who it is with, and its close.

import { WebSocket } from 'ws';
import { edgeProof } from '../shared/edge-proof.js';
import { frameType, protocolVersion, type EdgeFrame } from '../shared/protocol.js';
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

/** Who an edge says it is on each connection to a core. */
export interface EdgeIdentity {
  edgeId: string;
  region: string;
  /** Random per edge process: its uplink and its tunnel link carry the same. */
  instance: string;
  /** The secret it proves, over the core's challenge; absent: the hello carries no proof. */
  secret?: string;
}

/** The hello of a connection: with the proof over the core's challenge `nonce`, or (unasked) without one. */
export function helloFrame(identity: EdgeIdentity, nonce?: string): EdgeFrame {
  const proof =
    nonce !== undefined && identity.secret ? edgeProof(identity.secret, nonce, identity.edgeId, identity.instance) : '';
  return [frameType.hello, protocolVersion, identity.edgeId, identity.region, identity.instance, proof];
}

/** Closes a connection to a core as an edge shutting down; resolves once it is closed (cut after 1 s at most). */
export async function closeCoreSocket(socket: WebSocket | undefined): Promise<void> {
  if (!socket || socket.readyState === WebSocket.CLOSED) return;
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.close(1001, 'edge shutting down');
    setTimeout(() => socket.terminate(), 1000).unref();
  });
}
