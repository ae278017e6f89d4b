// The SDK for Node: MeshClient with the `ws` WebSocket as its default transport, and tunnels as Node Duplex streams.

import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { MeshClient as BaseClient, type MeshClientOptions, type WebSocketFactory } from './mesh-client.js';
import { openTunnelDuplex } from './tunnel-duplex.js';

export * from './mesh-client.js';
export { openTunnelDuplex, type TunnelDuplexOptions } from './tunnel-duplex.js';

export class NodeMeshClient extends BaseClient<Duplex> {
  constructor(options: MeshClientOptions) {
    super({ WebSocket: WebSocket as unknown as WebSocketFactory, ...options });
  }

  /** The token goes as `Authorization: Bearer`, out of URLs and their logs. */
  protected override connectTunnel(url: string, token: string | undefined): Promise<Duplex> {
    return openTunnelDuplex(url, { token });
  }
}
