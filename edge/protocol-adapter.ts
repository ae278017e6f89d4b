// The seam between a client WebSocket and a session: a protocol adapter turns one protocol's frames into client ops
// for the shared ClientSession, and the session's replies and fan-out messages back into that protocol's frames.

import type { Logger } from 'pino';
import type { ClientOpParse } from '../shared/codec.js';
import type { ClientOp } from '../shared/protocol.js';
import type { ClientFormat } from '../shared/protocol.js';
import type { LimitsConfig } from '../shared/topology.js';
import type { SessionTransport } from './session-transport.js';

/** What an adapter may do with the client's session: hand it ops (which answer through the adapter's transport). */
export interface SessionPort {
  readonly id: string;
  /** Whether the client has sent its `connect` (until then a stranger gets a smaller message size). */
  readonly greeted: boolean;
  /** Takes one client op (or why it could not be parsed); never throws. */
  receive(parse: ClientOpParse): void;
}

/**
 * The client's socket as an outbox of pre-framed WebSocket frames (edge/ws-frame.ts): written once per event-loop
 * turn, with the slow-consumer cap, shared with native clients (edge/ws-transport.ts).
 */
export interface WsOutbox {
  /** Queues one complete WebSocket frame, or a part of one (the parts of a frame are queued back to back). */
  queueFrame(frame: Buffer): void;
  /** Sends what is queued, then closes the socket with `code`. */
  close(code: number, reason: string): void;
}

/** A kind of state an adapter keeps per edge, shared by its connections there (e.g. MQTT's persistent sessions). */
export interface EdgeStateKey<T> {
  create(): T;
}

export interface AdapterContext {
  /** The subprotocol the client was accepted with (e.g. `v12.stomp`). */
  readonly subprotocol: string;
  readonly outbox: WsOutbox;
  /** The same socket as a native session transport in the factory's `nativeFormat`, which is a native adapter too. */
  readonly native: SessionTransport & ProtocolAdapter;
  readonly limits: LimitsConfig;
  readonly edgeId: string;
  readonly logger: Logger;
  /** Counts a client closed for breaking its protocol (metrics). */
  onProtocolError(): void;
  /** This edge's instance of `key`'s state, made on first use. */
  edgeState<T>(key: EdgeStateKey<T>): T;
}

export interface ProtocolAdapter {
  /** What the session writes to: the adapter itself, or for native clients the socket's transport directly. */
  readonly transport: SessionTransport;
  /** One WebSocket message from the client. Bad input gets the protocol's error and a close; it never throws. */
  receive(data: Buffer, isBinary: boolean, session: SessionPort): void;
  /** The socket is gone: stop timers, drop state. */
  closed(): void;
}

export interface ProtocolAdapterFactory {
  /** Label for metrics and logs: `native`, `stomp`, `mqtt`. */
  readonly protocol: string;
  /** For native adapters: the format the socket's own transport encodes ops in. */
  readonly nativeFormat?: ClientFormat;
  create(context: AdapterContext): ProtocolAdapter;
}

/** Hands a client op the adapter built from its protocol's frame to the session (ops from adapters are well formed). */
export function opToSession(session: SessionPort, op: ClientOp): void {
  session.receive({ kind: 'op', op });
}
