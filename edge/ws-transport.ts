// A client WebSocket as a session transport: an outbox of pre-framed messages written to the raw socket
// once per event-loop turn, with a byte cap that closes slow consumers (4508) instead of buffering without end.
// Native clients use it as their session transport; protocol adapters queue their own frames into it (WsOutbox).

import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { decodeClientMessage, encodeServerOp } from '../shared/codec.js';
import { closeCodes } from '../shared/errors.js';
import { beat, type Heartbeat } from '../shared/heartbeat.js';
import type { ClientFormat, ServerOp } from '../shared/protocol.js';
import type { EncodedMessage } from './encoded-message.js';
import type { Flushable, FlushScheduler } from './flush-scheduler.js';
import type { Backlogged, OutboxBudget } from './outbox-budget.js';
import type { ProtocolAdapter, SessionPort, WsOutbox } from './protocol-adapter.js';
import type { SessionTransport } from './session-transport.js';
import { frameWsMessage } from './ws-frame.js';

/** Shared by every transport of an edge (one object, not one per client). */
export interface WsTransportOptions {
  scheduler: FlushScheduler;
  /** Queued plus unsent socket bytes beyond which the client is a slow consumer. */
  outboxMaxBytes: number;
  /** The bound on unsent socket bytes of all clients together. */
  budget: OutboxBudget;
  onSlowConsumer(): void;
}

/** How long a client closed by the edge has to take its close frame before its socket is destroyed. */
const closeGraceMs = 1000;

export class WsTransport implements SessionTransport, ProtocolAdapter, WsOutbox, Flushable, Backlogged, Heartbeat {
  alive = true;
  /** Frames of this turn; no array at all between turns, as an idle client holds nothing. */
  private queue: Buffer[] | undefined;
  private queuedBytes = 0;
  private marked = false;
  private closing = false;

  // Frames go straight to the raw socket: `ws` frames nothing for us (no compression on this path), and
  // writing pre-framed bytes keeps one encoding per message per edge and one write per client per turn.
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    readonly format: ClientFormat,
    private readonly options: WsTransportOptions,
  ) {}

  /** As the native protocol's adapter: the session writes here, and ops are decoded straight into it. */
  get transport(): SessionTransport {
    return this;
  }

  receive(data: Buffer, isBinary: boolean, session: SessionPort): void {
    session.receive(decodeClientMessage(data, isBinary, this.format));
  }

  /** The native protocol keeps nothing of its own. */
  closed(): void {}

  sendOp(op: ServerOp): void {
    this.enqueue(frameWsMessage(encodeServerOp(op, this.format), this.format === 'msgpack'));
  }

  sendMessage(message: EncodedMessage): void {
    this.enqueue(message.wsFrame(this.format));
  }

  queueFrame(frame: Buffer): void {
    this.enqueue(frame);
  }

  flush(): void {
    this.marked = false;
    const frames = this.queue;
    if (!frames) return;
    const bytes = this.queuedBytes;
    this.queue = undefined;
    this.queuedBytes = 0;
    if (this.ws.readyState !== WebSocket.OPEN) return;
    writeFrames(this.socket, frames, bytes);
    this.options.budget.wrote(this, bytes);
  }

  /** Drops the socket at once (the edge is stopping). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => this.ws.once('close', () => resolve()));
  }

  backlog(): number {
    return this.socket.writableLength;
  }

  cut(): void {
    this.options.onSlowConsumer();
    this.close(closeCodes.slowConsumer, 'slow consumer');
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(code, closeReason(reason));
    // A client that does not read would keep its socket, and what is queued for it, through the whole close handshake.
    setTimeout(() => this.ws.terminate(), closeGraceMs).unref();
  }

  /** Any sign of life from the client (a pong). */
  heard(): void {
    this.alive = true;
  }

  /** Called once per heartbeat period: a client silent for a whole period is gone. */
  heartbeat(): void {
    if (!beat(this, () => this.ws.readyState === WebSocket.OPEN && this.ws.ping())) this.ws.terminate();
  }

  private enqueue(frame: Buffer): void {
    if (this.closing) return;
    (this.queue ??= []).push(frame);
    this.queuedBytes += frame.length;
    if (this.queuedBytes + this.socket.writableLength > this.options.outboxMaxBytes) {
      this.queue = undefined;
      this.queuedBytes = 0;
      this.cut();
      return;
    }
    if (!this.marked) {
      this.marked = true;
      this.options.scheduler.mark(this);
    }
  }
}

/** Above this, a flush hands the frames to the kernel as they are (one writev) instead of copying them into one buffer. */
const copyLimitBytes = 16 * 1024;

/**
 * One socket write for a turn's frames. Small ones are joined (one copy is cheaper than a vector of tiny writes);
 * large ones go as a vector, so a message's frame, shared by every subscriber, is not copied once per client, and a
 * client that does not read holds references to shared frames rather than copies of its own.
 */
export function writeFrames(
  socket: { write(chunk: Buffer): boolean; cork(): void; uncork(): void },
  frames: Buffer[],
  bytes: number,
): void {
  if (frames.length === 1) {
    socket.write(frames[0]!);
  } else if (bytes < copyLimitBytes) {
    socket.write(Buffer.concat(frames, bytes));
  } else {
    socket.cork();
    for (const frame of frames) socket.write(frame);
    socket.uncork();
  }
}

/** A close frame's reason holds at most 123 bytes (RFC 6455 §5.5); `ws` throws on a longer one. */
function closeReason(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  return text;
}
