// The SDK for Node: MeshClient with the `ws` WebSocket as its default transport, and tunnels (docs/protocol.md §8) as
// Node Duplex streams over a `ws` WebSocket to `/v1/tunnel/<name>`, with backpressure both ways. A tunnel ends cleanly
// when its service closes; a refused service or a lost path destroys it with a TunnelError, so a caller can tell a
// finished answer from a cut one (and reset its own TCP client).

import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { closeCodes } from '../shared/errors.js';
import { MeshClient as BaseClient, type MeshClientOptions, type WebSocketFactory } from './mesh-client.js';
import { MeshError } from './mesh-error.js';
import { messagesOf, tunnelCloseError } from './tunnel-stream.js';

/** How long an edge has to answer a tunnel's upgrade. */
const tunnelHandshakeTimeoutMs = 10_000;

export * from './mesh-client.js';

export class NodeMeshClient extends BaseClient<Duplex> {
  constructor(options: MeshClientOptions) {
    super({ WebSocket: WebSocket as unknown as WebSocketFactory, ...options });
  }

  /** The token goes as `Authorization: Bearer`, out of URLs and their logs. */
  protected override connectTunnel(url: string, token: string | undefined): Promise<Duplex> {
    return openTunnelDuplex(url, { token });
  }
}

export interface TunnelDuplexOptions {
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  /** CA certificates (PEM) trusted for a wss:// edge; default Node's. */
  ca?: Buffer;
}

/** Opens the WebSocket; resolves with the stream once the edge has accepted it, or rejects with why it did not. */
export function openTunnelDuplex(url: string, options: TunnelDuplexOptions = {}): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'], {
      perMessageDeflate: false,
      // An edge that takes the connection but never answers the upgrade must not hold the caller for ever.
      handshakeTimeout: tunnelHandshakeTimeoutMs,
      ca: options.ca,
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    });
    ws.on('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(refusal(res.statusCode ?? 0, url));
    });
    ws.once('error', (error) => reject(new MeshError('unavailable', `cannot reach ${url}: ${error.message}`)));
    ws.once('open', () => resolve(tunnelDuplex(ws)));
  });
}

function refusal(status: number, url: string): MeshError {
  switch (status) {
    case 401:
      return new MeshError('unauthorized', `${url}: a token with the tunnel in its "tunnels" claim is required`);
    case 403:
      return new MeshError('forbidden', `${url}: the token does not allow this tunnel, or the origin is not allowed`);
    case 404:
      return new MeshError('bad_request', `${url}: no such tunnel`);
    case 429:
      return new MeshError('rate_limited', `${url}: too many tunnel streams from this address`);
    default:
      return new MeshError('unavailable', `${url}: refused with HTTP ${status}`);
  }
}

function tunnelDuplex(ws: WebSocket): Duplex {
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, done) {
      // Done once the socket took the last piece: the writer waits while the edge does not read.
      const pieces = messagesOf(chunk);
      pieces.forEach((piece, index) =>
        ws.send(piece, { binary: true }, index === pieces.length - 1 ? (error) => done(error ?? null) : undefined),
      );
    },
    final(done) {
      // A WebSocket has no half-close: ending the writing side ends the stream, after every byte written.
      ws.close(closeCodes.normal, 'client closed');
      done();
    },
    read() {
      ws.resume();
    },
    destroy(error, done) {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
      done(error);
    },
  });
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return;
    if (!duplex.push(data)) ws.pause();
  });
  ws.on('error', () => {
    // 'close' follows.
  });
  ws.once('close', (code, reason) => {
    const error = tunnelCloseError(code, reason.toString(), true);
    if (error) duplex.destroy(error);
    else duplex.push(null);
  });
  return duplex;
}
