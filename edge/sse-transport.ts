// An HTTP-streaming client (docs/protocol.md §3) as a session transport: every server→client op is one `text/event-stream`
// event with a per-session id, written once per event-loop turn; recent events are kept so that a stream that
// breaks can be resumed with `Last-Event-ID` without a loss.

import type { ServerResponse } from 'node:http';
import { encodeServerOp } from '../shared/codec.js';
import { closeCodes } from '../shared/errors.js';
import type { ServerOp } from '../shared/protocol.js';
import type { EncodedMessage } from './encoded-message.js';
import type { Flushable } from './flush-scheduler.js';
import type { Backlogged } from './outbox-budget.js';
import type { SessionTransport } from './session-transport.js';
import { writeFrames, type WsTransportOptions } from './ws-transport.js';

export interface SseTransportOptions extends WsTransportOptions {
  /** The session ended (closed by the edge): the listener forgets it. */
  onClosed(code: number, reason: string): void;
}

interface StreamEvent {
  id: number;
  /** `id: <id>\ndata: `, this session's own. */
  head: Buffer;
  /** The op's JSON: for a fan-out message, the same buffer for every session. */
  body: Buffer;
  /** With the tail. */
  size: number;
}

/** Bytes of already-sent events kept per session so that a broken stream can be resumed. */
const resumeWindowBytes = 256 * 1024;
const eventTail = Buffer.from('\n\n');
/** How long an ended stream may take to deliver its last bytes before its socket is destroyed. */
const endGraceMs = 1000;

/**
 * Ends a stream with a `close` event and makes sure its socket goes with it: a client that stops reading would
 * otherwise keep the socket, and every byte queued for it, for as long as it likes.
 */
export function endStream(response: ServerResponse, code: number, reason: string): void {
  release(response, `event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
}

/** Ends a response, destroying its socket if the client has not taken the last bytes within a short grace. */
function release(response: ServerResponse, last = ''): void {
  response.end(last);
  if (response.writableFinished) return;
  const timer = setTimeout(() => response.destroy(), endGraceMs);
  timer.unref();
  response.once('close', () => clearTimeout(timer));
}

export class SseTransport implements SessionTransport, Flushable, Backlogged {
  readonly format = 'json' as const;
  /** The first op of a session (its welcome, or why it was refused) answers `POST /v1/session` instead of the stream. */
  onFirstOp: ((op: ServerOp) => void) | undefined;
  private response: ServerResponse | undefined;
  private nextId = 1;
  /** Id of the newest event written to a stream. */
  private written = 0;
  /** Sent or queued events, oldest first, kept (up to the outbox cap) for a resume. */
  private history: StreamEvent[] = [];
  private historyBytes = 0;
  /** Index in `history` of the first event not yet written to the current stream. */
  private unsent = 0;
  private marked = false;
  private closed = false;

  constructor(private readonly options: SseTransportOptions) {}

  get attached(): boolean {
    return this.response !== undefined;
  }

  sendOp(op: ServerOp): void {
    if (this.onFirstOp && (op.op === 'welcome' || op.op === 'error')) {
      const answer = this.onFirstOp;
      this.onFirstOp = undefined;
      answer(op);
      return;
    }
    this.enqueue(encodeServerOp(op, 'json'));
  }

  sendMessage(message: EncodedMessage): void {
    this.enqueue(message.json());
  }

  /**
   * A (new) stream for this session: events after `lastEventId` are sent again, then everything new.
   * False when some of them are no longer held, so the stream cannot continue without a gap.
   */
  attach(response: ServerResponse, lastEventId: number | undefined): boolean {
    // Without Last-Event-ID a stream starts after what earlier streams were sent: nothing twice.
    const resumeFrom = lastEventId === undefined ? this.written + 1 : lastEventId + 1;
    const oldest = this.history[0]?.id ?? this.nextId;
    if (resumeFrom < oldest || resumeFrom > this.nextId) return false;
    if (this.response) release(this.response);
    this.response = response;
    this.unsent = resumeFrom - oldest;
    this.mark();
    return true;
  }

  detach(response: ServerResponse): void {
    if (this.response === response) this.response = undefined;
  }

  /** Keeps intermediaries from closing an idle stream; not an event, so it takes no id. */
  heartbeat(): void {
    if (this.response && !this.closed) this.response.write(': ping\n\n');
  }

  flush(): void {
    this.marked = false;
    const response = this.response;
    if (!response || this.unsent >= this.history.length) return;
    const pending = this.history.slice(this.unsent);
    this.unsent = this.history.length;
    this.written = this.history[this.history.length - 1]!.id;
    this.trimSent();
    const bytes = pending.reduce((sum, event) => sum + event.size, 0);
    writeFrames(
      response,
      pending.flatMap((event) => [event.head, event.body, eventTail]),
      bytes,
    );
    if (response.writableLength > this.options.outboxMaxBytes) this.cut();
    else this.options.budget.wrote(this, bytes);
  }

  backlog(): number {
    return this.response?.writableLength ?? 0;
  }

  cut(): void {
    this.options.onSlowConsumer();
    this.close(closeCodes.slowConsumer, 'slow consumer');
  }

  /** Tells the client why with a `close` event (the stream's equivalent of a close code), then ends the stream. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    // Refused before its welcome (a bad token, a protocol violation): the POST that opened it gets the answer.
    this.onFirstOp?.({
      op: 'error',
      code: closeErrorOf(code),
      message: reason,
    });
    this.onFirstOp = undefined;
    this.flush();
    this.closed = true;
    if (this.response) endStream(this.response, code, reason);
    this.response = undefined;
    // Later, as for a WebSocket: this may run inside a fan-out loop that must not see its subscriber list change.
    setImmediate(() => this.options.onClosed(code, reason));
  }

  private enqueue(json: Buffer): void {
    if (this.closed) return;
    const id = this.nextId++;
    const head = Buffer.from(`id: ${id}\ndata: `);
    const size = head.length + json.length + eventTail.length;
    this.history.push({ id, head, body: json, size });
    this.historyBytes += size;
    // What a resume may still ask for is bounded like an outbox: past the cap, the oldest events go (a resume
    // from before them is then refused, and the client starts a new session with `since`).
    while (this.historyBytes > this.options.outboxMaxBytes && this.history.length > 1) {
      // An event the open stream has not been sent yet would be lost without notice: that is a slow consumer.
      if (this.response && this.unsent === 0) return this.cut();
      const dropped = this.history.shift()!;
      this.historyBytes -= dropped.size;
      this.unsent = Math.max(0, this.unsent - 1);
    }
    this.mark();
  }

  /** Events already sent are kept only for a short resume window, not up to the whole outbox cap. */
  private trimSent(): void {
    while (this.unsent > 0 && this.historyBytes > resumeWindowBytes) {
      this.historyBytes -= this.history.shift()!.size;
      this.unsent--;
    }
  }

  private mark(): void {
    if (this.marked || !this.response) return;
    this.marked = true;
    this.options.scheduler.mark(this);
  }
}

/**
 * A close before the welcome as the error `POST /v1/session` answers: 401 for a refused token, 503 for what is worth
 * retrying (a backend hook that failed, 4500), 400 for a protocol violation (which retrying unchanged cannot mend).
 */
function closeErrorOf(code: number): 'unauthorized' | 'unavailable' | 'bad_request' {
  if (code === closeCodes.unauthorized) return 'unauthorized';
  return code === closeCodes.protocolViolation || code === closeCodes.messageTooBig ? 'bad_request' : 'unavailable';
}
