// The SDK for Node: MeshClient with the `ws` WebSocket as its default transport.

import WebSocket from 'ws';
import { MeshClient as BaseClient, type MeshClientOptions, type WebSocketFactory } from './mesh-client.js';

export * from './mesh-client.js';

export class NodeMeshClient extends BaseClient {
  constructor(options: MeshClientOptions) {
    super({ WebSocket: WebSocket as unknown as WebSocketFactory, ...options });
  }
}
