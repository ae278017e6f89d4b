// Tunnels by WebSocket (docs/protocol.md §8): `/v1/tunnel/<name>` on every edge. Everything that can be refused is
// refused before the upgrade (unknown name 404, origin 403, token 401/403, drain and limits 503/429); after it, binary
// messages carry the bytes both ways, a text message closes with 4400, and the stream's end becomes a close code.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { closeCodes } from '../shared/errors.js';
import { beat, type Heartbeat } from '../shared/heartbeat.js';
import { pathOf, refuseUpgrade } from '../shared/http.js';
import type { OriginPolicy } from '../shared/origins.js';
import { tunnelPathPrefix } from '../shared/protocol.js';
import type { MuxStream } from '../shared/stream-mux.js';
import { unknownTunnel, type TunnelMetrics } from '../shared/tunnel-metrics.js';
import type { SocketJoin, StreamOutcome } from '../shared/tunnel-socket.js';
import { isTunnelName } from '../shared/topology-tunnels.js';
import type { StreamResetReason } from '../shared/uplink-frames.js';
import { mayOpenTunnel, type TokenVerifier } from './token-verifier.js';
import type { EdgeTunnels } from './tunnels.js';

/** Largest WebSocket message a tunnel client may send; websockify clients send a socket read at a time. */
const maxTunnelMessageBytes = 1024 * 1024;
/** After its client left, how long a stream waits for its service to close before it is reset. */
const serviceCloseGraceMs = 10_000;

const closeCodeOf: Record<StreamResetReason, number> = {
  refused: closeCodes.serviceRefused,
  lost: closeCodes.pathLost,
  aborted: closeCodes.pathLost,
  limit: closeCodes.rateLimited,
  draining: closeCodes.draining,
  slow: closeCodes.slowConsumer,
};

export interface TunnelWebSocketsOptions {
  tunnels: EdgeTunnels;
  tokens: TokenVerifier;
  origins: OriginPolicy;
  metrics: TunnelMetrics;
  /** Tunnel clients are pinged at this period; one that answers nothing for a whole period is dropped. */
  heartbeatMs: number;
  logger: Logger;
}

export function isTunnelPath(req: IncomingMessage): boolean {
  return pathOf(req).startsWith(tunnelPathPrefix);
}

export class TunnelWebSockets {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxTunnelMessageBytes,
    perMessageDeflate: false,
    // websockify clients ask for `binary`; none is fine too. Anything else gets no subprotocol, and its client gives up.
    handleProtocols: (offered) => (offered.has('binary') ? 'binary' : false),
  });
  /** Each accepted client's heartbeat (shared/heartbeat.ts), while it is connected. */
  private readonly heartbeats = new Map<WebSocket, Heartbeat>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: TunnelWebSocketsOptions) {
    this.heartbeat = setInterval(() => {
      for (const [ws, heartbeat] of this.heartbeats) if (!beat(heartbeat, () => ws.ping())) ws.terminate();
    }, options.heartbeatMs);
  }

  /** Takes an upgrade for a path under /v1/tunnel/. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.admit(req, socket, head).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'tunnel upgrade failed');
      socket.destroy();
    });
  }

  /** Stops the heartbeat and drops every tunnel client. */
  terminate(): void {
    clearInterval(this.heartbeat);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private async admit(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { tunnels, tokens, origins, metrics } = this.options;
    const name = tunnelNameOf(req);
    if (name === undefined || !tunnels.has(name)) {
      metrics.refused(unknownTunnel, 'unknown_tunnel');
      return refuseUpgrade(socket, 404);
    }
    if (!origins.allows(req)) {
      metrics.refused(name, 'forbidden');
      return refuseUpgrade(socket, 403);
    }
    let allowed: boolean;
    try {
      allowed = mayOpenTunnel(await tokens.verify(tokenOf(req)), name);
    } catch {
      metrics.refused(name, 'unauthorized');
      return refuseUpgrade(socket, 401);
    }
    if (!allowed) {
      metrics.refused(name, 'forbidden');
      return refuseUpgrade(socket, 403);
    }
    if (socket.destroyed) return;
    const remote = (socket as Socket).remoteAddress;
    const refusal = tunnels.refusal(name, remote);
    if (refusal) return refuseUpgrade(socket, refusal === 'address_limit' ? 429 : 503);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, name, remote));
  }

  private accept(ws: WebSocket, name: string, remote: string | undefined): void {
    const entry = this.options.tunnels.enter(name, remote, 'websocket');
    if (typeof entry === 'string') {
      // Refused after the upgrade (another stream took the last place meanwhile): the close says why, as a reset would.
      const reason = entry === 'no_path' ? 'refused' : entry === 'draining' ? 'draining' : 'limit';
      ws.close(closeCodeOf[reason], `tunnel refused: ${entry}`);
      return;
    }
    const heartbeat: Heartbeat = { alive: true };
    this.heartbeats.set(ws, heartbeat);
    ws.on('pong', () => (heartbeat.alive = true));
    ws.once('close', () => this.heartbeats.delete(ws));
    joinWebSocket(entry.stream, ws, entry.join);
  }
}

/**
 * Joins a client WebSocket to its stream: its binary messages in order into the stream (the socket paused while the
 * stream has no room), the stream's bytes out as binary messages (acknowledged once the kernel took them). A
 * WebSocket has no half-close: its close ends the stream after the bytes sent before it.
 */
function joinWebSocket(stream: MuxStream, ws: WebSocket, join: SocketJoin): void {
  const outcome: StreamOutcome = { reset: undefined, bytesRead: 0, bytesWritten: 0 };
  let clientGone = false;
  let serviceEnded = false;
  let finished = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const finish = (reset: StreamResetReason | undefined): void => {
    if (finished) return;
    finished = true;
    clearTimeout(graceTimer);
    outcome.reset = reset;
    join.closed?.(outcome);
  };
  stream.attach({
    data(chunk) {
      // The client left: what the service still says has nowhere to go.
      if (clientGone) return stream.consumed(chunk.length);
      outcome.bytesWritten += chunk.length;
      join.carried?.(false, chunk.length);
      ws.send(chunk, { binary: true }, () => stream.consumed(chunk.length));
    },
    end() {
      serviceEnded = true;
      if (clientGone) return finish(undefined);
      ws.close(closeCodes.normal, 'the service closed the stream');
    },
    reset(reason) {
      if (!clientGone) ws.close(closeCodeOf[reason], `tunnel stream ${reason}`);
      finish(reason);
    },
    writable() {
      ws.resume();
    },
  });
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) {
      ws.close(closeCodes.protocolViolation, 'tunnel messages are binary');
      stream.reset('aborted');
      return finish('aborted');
    }
    outcome.bytesRead += data.length;
    join.carried?.(true, data.length);
    if (!stream.write(data)) ws.pause();
  });
  ws.on('error', () => {
    // 'close' follows.
  });
  ws.once('close', () => {
    clientGone = true;
    if (finished) return;
    if (serviceEnded) {
      stream.end();
      return finish(undefined);
    }
    // Its bytes go on to the service, then the service sees the end; a service that never closes is not waited for.
    stream.end();
    graceTimer = setTimeout(() => {
      stream.reset('aborted');
      finish('aborted');
    }, serviceCloseGraceMs);
  });
}

function tunnelNameOf(req: IncomingMessage): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(pathOf(req).slice(tunnelPathPrefix.length));
  } catch {
    return undefined;
  }
  return isTunnelName(name) ? name : undefined;
}

/** `?token=<jwt>` (browsers cannot set headers on a WebSocket) or `Authorization: Bearer <jwt>`. */
function tokenOf(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (bearer) return bearer[1];
  try {
    return new URL(req.url ?? '/', 'http://edge').searchParams.get('token') ?? undefined;
  } catch {
    return undefined;
  }
}
