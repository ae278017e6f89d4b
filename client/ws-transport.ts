// The WebSocket transport (docs/protocol.md §2): json subprotocol, one op per text frame.

import { subprotocols } from '../shared/protocol.js';
import type { ClientOp } from '../shared/protocol.js';
import { parseOp, type Transport, type TransportHandlers } from './transport.js';

/** The part of the WebSocket API the client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = new (url: string, protocols: string[]) => WebSocketLike;

const openState = 1;

export class WsTransport implements Transport {
  readonly kind = 'websocket' as const;
  private socket: WebSocketLike | undefined;
  private opened = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly WebSocketImpl: WebSocketFactory,
    private readonly url: string,
    private readonly handlers: TransportHandlers,
  ) {}

  open(connect: () => Promise<ClientOp>): void {
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url, [subprotocols.json]);
    } catch (error) {
      queueMicrotask(() => this.handlers.onClose(1006, `cannot open ${this.url}: ${(error as Error).message}`, false));
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.opened = true;
      this.handlers.onOpen();
      connect().then(
        (op) => {
          if (this.socket === socket && !this.closing) socket.send(JSON.stringify(op));
        },
        () => socket.close(1000, 'no token'),
      );
    };
    socket.onmessage = (event) => {
      if (this.closing) return;
      this.handlers.onMessage(parseOp(event.data));
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (this.closing) return;
      this.socket = undefined;
      this.handlers.onClose(event.code, event.reason, this.opened);
    };
  }

  send(op: ClientOp): void {
    if (this.socket?.readyState === openState) this.socket.send(JSON.stringify(op));
  }

  close(code = 1000, reason = 'client closed'): Promise<void> {
    const socket = this.socket;
    this.closing ??=
      !socket || socket.readyState > openState
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            socket.onclose = () => resolve();
            socket.close(code, reason);
          });
    return this.closing;
  }
}
