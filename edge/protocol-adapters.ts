// The registry of client protocols on /v1/ws, by WebSocket subprotocol: the native formats and the standard
// protocols of docs/protocol.md §2b. A new protocol plugs in with one entry here and a folder of its own under edge/.

import { subprotocols } from '../shared/protocol.js';
import { nativeAdapterFactory } from './native-adapter.js';
import type { ProtocolAdapterFactory } from './protocol-adapter.js';
import { mqttAdapterFactory, mqttSubprotocol } from './mqtt/mqtt-adapter.js';
import { stompAdapterFactory, stompSubprotocols } from './stomp/stomp-adapter.js';

/** In order of preference when a client offers several (msgpack before json, newer STOMP before older). */
export const protocolAdapters: ReadonlyMap<string, ProtocolAdapterFactory> = new Map<string, ProtocolAdapterFactory>([
  [subprotocols.msgpack, nativeAdapterFactory('msgpack')],
  [subprotocols.json, nativeAdapterFactory('json')],
  ...stompSubprotocols.map((name) => [name, stompAdapterFactory] as const),
  [mqttSubprotocol, mqttAdapterFactory],
]);

/** A client that offers no subprotocol of ours (or none at all) speaks native JSON. */
export const defaultAdapter: ProtocolAdapterFactory = protocolAdapters.get(subprotocols.json)!;

/** The subprotocol to accept among those a client offers, or false for none (the client then gets native JSON). */
export function chooseSubprotocol(offered: ReadonlySet<string>): string | false {
  for (const name of protocolAdapters.keys()) if (offered.has(name)) return name;
  return false;
}

export function adapterFor(subprotocol: string): ProtocolAdapterFactory {
  return protocolAdapters.get(subprotocol) ?? defaultAdapter;
}
