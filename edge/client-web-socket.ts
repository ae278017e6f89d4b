// A client's WebSocket, as the edge's `ws` server builds them: it carries the client's parts (transport, protocol
// adapter, session, input turns) and hands them its own events, where a connection object and four listener
// registrations per socket would cost more (idle clients are the bulk of an edge's memory).

import { WebSocket } from 'ws';
import type { ClientSession } from './client-session.js';
import type { TurnInput } from './input-turns.js';
import type { ProtocolAdapter } from './protocol-adapter.js';
import type { WsTransport } from './ws-transport.js';

/** Who accepted the socket: it handles the client's messages, and its end. */
export interface ClientSocketOwner {
  /** A message came: taken now or in a later turn (edge/input-turns.ts), in order, by `handleInput`. */
  received(socket: ClientWebSocket, data: Buffer, isBinary: boolean): void;
  handleInput(socket: ClientWebSocket, data: Buffer, isBinary: boolean): void;
  socketError(socket: ClientWebSocket, error: Error): void;
  socketClosed(socket: ClientWebSocket): void;
}

export class ClientWebSocket extends WebSocket implements TurnInput {
  // The client's parts, set by `attach` once the socket is a session (fields of the socket itself: no object more).
  owner: ClientSocketOwner | undefined = undefined;
  transport!: WsTransport;
  adapter!: ProtocolAdapter;
  session!: ClientSession;
  /** The adapter's label for metrics: `native`, `stomp`, `mqtt` (not `protocol`: that is the subprotocol). */
  adapterLabel = '';
  // Its input turns (edge/input-turns.ts).
  inputTurn = -1;
  inputHandled = 0;
  inputQueue: Array<[Buffer, boolean]> | undefined = undefined;
  inputHead = 0;

  attach(
    owner: ClientSocketOwner,
    transport: WsTransport,
    adapter: ProtocolAdapter,
    session: ClientSession,
    protocol: string,
  ): void {
    this.transport = transport;
    this.adapter = adapter;
    this.session = session;
    this.adapterLabel = protocol;
    // Last: from now on its events go to them.
    this.owner = owner;
  }

  handleInput(data: Buffer, isBinary: boolean): void {
    this.owner!.handleInput(this, data, isBinary);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const owner = this.owner;
    if (owner !== undefined) {
      if (event === 'message') {
        this.transport.heard();
        owner.received(this, args[0] as Buffer, args[1] as boolean);
      } else if (event === 'pong') {
        this.transport.heard();
      } else if (event === 'close') {
        owner.socketClosed(this);
      } else if (event === 'error') {
        owner.socketError(this, args[0] as Error);
        // Handled: an 'error' without listeners must not throw.
        if (this.listenerCount('error') === 0) return true;
      }
    }
    return super.emit(event, ...args);
  }
}
