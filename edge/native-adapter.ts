// The native protocol (docs/protocol.md §2) as a protocol adapter: JSON or msgpack ops straight into the session, and the
// socket's own transport as the session transport, so the native fan-out path is exactly the WsTransport's.

import { decodeClientMessage } from '../shared/codec.js';
import type { ClientFormat } from '../shared/protocol.js';
import type { AdapterContext, ProtocolAdapter, ProtocolAdapterFactory, SessionPort } from './protocol-adapter.js';
import type { SessionTransport } from './session-transport.js';

class NativeAdapter implements ProtocolAdapter {
  constructor(
    readonly transport: SessionTransport,
    private readonly format: ClientFormat,
  ) {}

  receive(data: Buffer, isBinary: boolean, session: SessionPort): void {
    session.receive(decodeClientMessage(data, isBinary, this.format));
  }

  closed(): void {}
}

export function nativeAdapterFactory(format: ClientFormat): ProtocolAdapterFactory {
  return {
    protocol: 'native',
    nativeFormat: format,
    create: (context: AdapterContext) => new NativeAdapter(context.native, format),
  };
}
