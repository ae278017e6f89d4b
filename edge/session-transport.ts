// What a client session needs of its transport: native WebSocket and HTTP streaming, and the protocol adapters
// (edge/protocol-adapter.ts) that speak STOMP or MQTT to their client, all share the same session code.

import type { ServerOp } from '../shared/protocol.js';
import type { EncodedMessage } from './encoded-message.js';

export interface SessionTransport {
  /** Queues a reply or notice for this client only. */
  sendOp(op: ServerOp): void;
  /** Queues a fan-out message, whose encoding is shared with the other subscribers. */
  sendMessage(message: EncodedMessage): void;
  /** Sends what is queued, then closes with `code`. */
  close(code: number, reason: string): void;
}
