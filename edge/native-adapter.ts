// The native protocol (docs/protocol.md §2): JSON or msgpack ops straight into the session. The socket's own transport
// is the whole adapter (edge/ws-transport.ts), so the native path is exactly the WsTransport's and costs no object more.

import type { ClientFormat } from '../shared/protocol.js';
import type { AdapterContext, ProtocolAdapterFactory } from './protocol-adapter.js';

export function nativeAdapterFactory(format: ClientFormat): ProtocolAdapterFactory {
  return {
    protocol: 'native',
    nativeFormat: format,
    create: (context: AdapterContext) => context.native,
  };
}
