// Tunnel streams over one tunnel link (docs/protocol.md §8): byte streams multiplexed on one WebSocket, each with
// credit of its own, as yamux and smux v2 do. A receiver holds at most one window per stream, and a sender sends only
// what its credit allows, so a reader that stalls stops its own stream and nothing else; windows grow for readers that
// keep up across a long round trip. The link's outbox takes data round-robin in bounded chunks, behind control frames
// (shared/uplink-outbox.ts).

import { encodeFrame } from './codec.js';
import { frameType, type FrameOf, type StreamResetReason } from './uplink-frames.js';

/** Each stream's window, each way, to start with: what a sender may have in flight unacknowledged. */
export const streamWindowBytes = 256 * 1024;
/**
 * What a window may grow to: a stream whose reader keeps up on a long round trip gets a window that covers it (as
 * quic-go tunes its windows), so one stream across a 120 ms round trip may carry up to 4 MiB per round trip. Larger
 * windows carry more, but every byte of them may sit in the tunnel link ahead of another stream's keystroke: at 2, 4
 * and 8 MiB one stream moved 16, 28 and 45 MB/s across a 60 ms one-way WAN, and an interactive stream beside a
 * saturating one saw a p99 of 147, 161 and 182 ms against 132 alone (BENCHMARKS.md S7).
 */
export const streamMaxWindowBytes = 4 * 1024 * 1024;
/**
 * What a tunnel link's socket may hold beyond what the kernel took before no more stream data is taken: a keystroke
 * queues behind at most this much and one turn's data (256 KiB), and the kernel's buffer; an uplink lets 1 MiB wait.
 */
export const tunnelLinkLowWaterBytes = 128 * 1024;
/** Bytes of one stream per data frame: an interactive stream waits behind at most this much of each bulk one. */
export const streamChunkBytes = 16 * 1024;
/** What a writer may queue beyond what has gone out; past it, write() asks it to pause until writable(). */
const sendQueueHighWater = 64 * 1024;

export type StreamFrame =
  | FrameOf<typeof frameType.streamOpen>
  | FrameOf<typeof frameType.streamData>
  | FrameOf<typeof frameType.streamWindow>
  | FrameOf<typeof frameType.streamEnd>
  | FrameOf<typeof frameType.streamReset>;

/** What sits at a stream's end on this node: a TCP socket, a client WebSocket, or another stream (a relay). */
export interface StreamEndpoint {
  /** Bytes from the peer, in order. Call stream.consumed(n) once they are passed on: the peer may then send n more. */
  data(chunk: Buffer): void;
  /** The peer sends nothing more (a half-close), after every byte it sent before. */
  end(): void;
  /** The stream is over both ways, now; the endpoint did not ask for it (the peer, the path or a limit did). */
  reset(reason: StreamResetReason): void;
  /** The send queue has room again after write() returned false. */
  writable(): void;
  /** `bytes` of what was written left the queue for the uplink (a relay acknowledges its other stream with it). */
  taken?(bytes: number): void;
}

/** Counts a mux reports as they happen, for metrics. */
export interface StreamCounters {
  /** Time a stream had bytes to send and no credit. */
  creditWait(tunnel: string, ms: number): void;
}

export interface StreamMuxOptions {
  /** Which ids this side opens: odd on an edge, even on a core. */
  side: 'edge' | 'core';
  /** Queues a control frame (open, window, reset) for the peer: they go before any data. */
  sendControl(frame: StreamFrame): void;
  /** Stream data (or an end) is waiting: the outbox should take() it soon. */
  wake(): void;
  /** The peer opened a stream: attach an endpoint to it or reset it, before returning. */
  onOpen(stream: MuxStream): void;
  /** Received bytes not yet passed on, all streams together, beyond which the streams holding most are reset (`slow`). */
  maxBufferedBytes: number;
  /** The uplink's round-trip time (shared/round-trip.ts), undefined until measured: windows grow only once it is. */
  roundTripMs?(): number | undefined;
  counters?: StreamCounters;
}

export class MuxStream {
  private endpoint: StreamEndpoint | undefined;
  /** Receiving: what the peer may still send, what we hold unconsumed, and consumed bytes not yet granted back. */
  private receiveWindow = streamWindowBytes;
  unconsumed = 0;
  private toGrant = 0;
  /** Receiving: the window now, and since when and how much was passed on in this tuning epoch. */
  private windowSize = streamWindowBytes;
  private epochStart = performance.now();
  private epochBytes = 0;
  private remoteEnded = false;
  /** Sending: what we may still send, and what waits in order. */
  private credit = streamWindowBytes;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  /** end() was called: the end goes out after the queue. */
  private ending = false;
  private localEnded = false;
  private blocked = false;
  private creditWaitSince: number | undefined;
  /** In the mux's ready list. */
  ready = false;
  closed = false;

  constructor(
    private readonly mux: StreamMux,
    readonly id: number,
    readonly tunnel: string,
  ) {}

  attach(endpoint: StreamEndpoint): void {
    this.endpoint = endpoint;
  }

  get attached(): boolean {
    return this.endpoint !== undefined;
  }

  /**
   * Queues bytes for the peer, after everything written before. False when the queue is past its mark: pause the
   * source until writable(). Bytes written after end() or a reset are dropped.
   */
  write(chunk: Buffer): boolean {
    if (this.closed || this.ending || chunk.length === 0) return !this.closed;
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.credit === 0) this.creditWaitSince ??= performance.now();
    this.mux.markReady(this);
    if (this.queuedBytes < sendQueueHighWater) return true;
    this.blocked = true;
    return false;
  }

  /** No more bytes from this side (a half-close); the peer gets the end after every byte written before. */
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.mux.markReady(this);
  }

  /** Ends the stream both ways now: queued bytes are dropped and the peer is told why. */
  reset(reason: StreamResetReason): void {
    if (this.closed) return;
    this.mux.sendReset(this, reason);
    this.finish();
  }

  /**
   * `bytes` received were passed on: grant them back to the peer once half a window has gathered, or at once when the
   * reader holds nothing more (it keeps up, so waiting would only cost the sender a round trip of idle credit).
   */
  consumed(bytes: number): void {
    // A reset stream gave back everything it held when it closed.
    if (this.closed) return;
    this.unconsumed -= bytes;
    this.mux.buffered -= bytes;
    if (this.remoteEnded) return;
    this.toGrant += bytes;
    if (this.toGrant < this.windowSize / 2 && (this.unconsumed > 0 || this.toGrant < streamChunkBytes)) return;
    const increment = this.toGrant + this.growth(this.toGrant);
    this.receiveWindow += increment;
    this.mux.sendWindow(this, increment);
    this.toGrant = 0;
  }

  /**
   * How much to widen the window by, now that `granted` more bytes were passed on. When half a window went through
   * in well under two round trips, the reader keeps up and the window is what holds the stream back: double it. A
   * slow reader passes bytes on slowly, so its window never grows; on loopback a round trip is too short to qualify.
   */
  private growth(granted: number): number {
    this.epochBytes += granted;
    if (this.epochBytes < this.windowSize / 2) return 0;
    const now = performance.now();
    const roundTripMs = this.mux.roundTripMs();
    const quick =
      roundTripMs !== undefined && now - this.epochStart < 4 * (this.epochBytes / this.windowSize) * roundTripMs;
    this.epochStart = now;
    this.epochBytes = 0;
    if (!quick || this.windowSize >= streamMaxWindowBytes) return 0;
    const growth = this.mux.allowGrowth(Math.min(this.windowSize, streamMaxWindowBytes - this.windowSize));
    this.windowSize += growth;
    return growth;
  }

  /** What this stream's window has grown beyond the first one. */
  get grownBytes(): number {
    return this.windowSize - streamWindowBytes;
  }

  /** Whether the outbox can take something of this stream now. */
  get sendable(): boolean {
    if (this.closed) return false;
    if (this.queuedBytes > 0) return this.credit > 0;
    return this.ending && !this.localEnded;
  }

  /** The stream's next frame for the outbox: up to `limit` bytes within its credit, or its end once the queue is empty. */
  takeFrame(limit: number): Buffer | undefined {
    if (this.closed) return undefined;
    if (this.queuedBytes === 0) {
      if (!this.ending || this.localEnded) return undefined;
      this.localEnded = true;
      const frame = encodeFrame([frameType.streamEnd, this.id]);
      if (this.remoteEnded) this.mux.forget(this);
      return frame;
    }
    const size = Math.min(limit, this.credit, this.queuedBytes);
    if (size === 0) return undefined;
    const data = this.dequeue(size);
    this.credit -= size;
    if (this.credit === 0 && this.queuedBytes > 0) this.creditWaitSince ??= performance.now();
    this.endpoint?.taken?.(size);
    if (this.blocked && this.queuedBytes < sendQueueHighWater) {
      this.blocked = false;
      this.endpoint?.writable();
    }
    return encodeFrame([frameType.streamData, this.id, data]);
  }

  /** A frame from the peer; returns what makes it a protocol violation, if anything. */
  received(frame: StreamFrame): string | undefined {
    switch (frame[0]) {
      case frameType.streamData:
        return this.receivedData(frame[2]);
      case frameType.streamWindow:
        return this.receivedWindow(frame[2]);
      case frameType.streamEnd:
        if (this.remoteEnded) return `stream ${this.id} ended twice`;
        this.remoteEnded = true;
        if (this.localEnded) this.mux.forget(this);
        this.endpoint?.end();
        return undefined;
      case frameType.streamReset:
        this.finish();
        this.endpoint?.reset(frame[2]);
        return undefined;
      case frameType.streamOpen:
        return `stream ${this.id} opened twice`;
    }
  }

  /** Reset from this side for a reason its endpoint did not cause (a limit, the path): the endpoint is told too. */
  abort(reason: StreamResetReason): void {
    if (this.closed) return;
    this.reset(reason);
    this.endpoint?.reset(reason);
  }

  /** The path went: nothing can be sent any more, and the endpoint is told. */
  lost(): void {
    if (this.closed) return;
    this.finish();
    this.endpoint?.reset('lost');
  }

  private receivedData(data: Uint8Array): string | undefined {
    if (this.remoteEnded) return `data on stream ${this.id} after its end`;
    if (data.length === 0) return `empty data on stream ${this.id}`;
    if (data.length > this.receiveWindow)
      return `${data.length} bytes on stream ${this.id}, beyond its window of ${this.receiveWindow}`;
    this.receiveWindow -= data.length;
    this.unconsumed += data.length;
    this.mux.buffered += data.length;
    // Its own memory: a view would keep the uplink's whole message alive while a slow reader holds a chunk.
    this.endpoint?.data(Buffer.from(data));
    return undefined;
  }

  private receivedWindow(increment: number): string | undefined {
    if (increment === 0 || this.credit + increment > streamMaxWindowBytes)
      return `window update of ${increment} on stream ${this.id}, beyond its window`;
    this.credit += increment;
    this.creditWaitEnded();
    if (this.queuedBytes > 0) this.mux.markReady(this);
    return undefined;
  }

  private dequeue(size: number): Buffer {
    const first = this.queue[0]!;
    this.queuedBytes -= size;
    if (first.length === size) return this.queue.shift()!;
    if (first.length > size) {
      this.queue[0] = first.subarray(size);
      return first.subarray(0, size);
    }
    // Small writes (keystrokes, short requests) go out together.
    const pieces: Buffer[] = [];
    let needed = size;
    while (needed > 0) {
      const head = this.queue[0]!;
      if (head.length <= needed) {
        pieces.push(this.queue.shift()!);
        needed -= head.length;
      } else {
        pieces.push(head.subarray(0, needed));
        this.queue[0] = head.subarray(needed);
        needed = 0;
      }
    }
    return Buffer.concat(pieces, size);
  }

  /** A wait for credit is over (credit came, or the stream ended waiting): it counts either way. */
  private creditWaitEnded(): void {
    if (this.creditWaitSince === undefined) return;
    this.mux.counters?.creditWait(this.tunnel, performance.now() - this.creditWaitSince);
    this.creditWaitSince = undefined;
  }

  private finish(): void {
    this.creditWaitEnded();
    this.closed = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.mux.buffered -= this.unconsumed;
    this.unconsumed = 0;
    this.mux.forget(this);
  }
}

export class StreamMux {
  private readonly streams = new Map<number, MuxStream>();
  /** Streams with something the outbox can take, in turn. */
  private readyStreams: MuxStream[] = [];
  private nextId: number;
  /** The highest id the peer has opened: its ids only grow, so anything at or below it and unknown has closed. */
  private lastPeerId = 0;
  /** Received bytes not yet passed on, all streams together. */
  buffered = 0;
  /** What the open streams' windows have grown by, together: at most half of `maxBufferedBytes`. */
  private grown = 0;
  private closed = false;
  readonly counters: StreamCounters | undefined;

  constructor(private readonly options: StreamMuxOptions) {
    this.nextId = options.side === 'edge' ? 1 : 2;
    this.counters = options.counters;
  }

  roundTripMs(): number | undefined {
    return this.options.roundTripMs?.();
  }

  /** Streams open now (not yet ended both ways or reset). */
  get size(): number {
    return this.streams.size;
  }

  /**
   * A new stream to `tunnel`'s service: attach its endpoint at once. Bytes may be written before the far end answers.
   * On a closed mux the endpoint hears `lost` in a moment.
   */
  open(tunnel: string): MuxStream {
    const stream = new MuxStream(this, this.nextId, tunnel);
    this.nextId += 2;
    if (this.closed) {
      queueMicrotask(() => stream.lost());
      return stream;
    }
    this.streams.set(stream.id, stream);
    this.options.sendControl([frameType.streamOpen, stream.id, tunnel]);
    return stream;
  }

  /** A stream frame from the peer; returns what makes it a protocol violation (the uplink is then closed), if anything. */
  receive(frame: StreamFrame): string | undefined {
    const id = frame[1];
    if (frame[0] === frameType.streamOpen) return this.peerOpened(id, frame[2]);
    const stream = this.streams.get(id);
    if (stream) {
      const problem = stream.received(frame);
      if (problem === undefined && this.buffered > this.options.maxBufferedBytes) this.shedSlowest();
      return problem;
    }
    // A frame for a stream that ended here while it was on its way is late, not wrong; one never opened is forged.
    return this.opened(id) ? undefined : `frame ${frame[0]} for stream ${id}, which was never opened`;
  }

  /** Whether any stream has data or an end the outbox can take. */
  get hasData(): boolean {
    return this.readyStreams.length > 0;
  }

  /** Encoded data and end frames, up to about `budget` bytes, one chunk per stream in turn. */
  take(budget: number): Buffer[] {
    const frames: Buffer[] = [];
    let left = budget;
    while (left > 0 && this.readyStreams.length > 0) {
      const stream = this.readyStreams.shift()!;
      stream.ready = false;
      const frame = stream.takeFrame(Math.min(streamChunkBytes, left));
      if (frame) {
        frames.push(frame);
        left -= frame.length;
      }
      // To the back of the line, when it has more.
      this.markReady(stream);
    }
    return frames;
  }

  /** The uplink is gone: every stream ends (`lost`), and nothing more is sent. */
  close(): void {
    this.closed = true;
    this.readyStreams = [];
    for (const stream of [...this.streams.values()]) stream.lost();
    this.buffered = 0;
  }

  markReady(stream: MuxStream): void {
    if (stream.ready || !stream.sendable) return;
    stream.ready = true;
    this.readyStreams.push(stream);
    this.options.wake();
  }

  sendWindow(stream: MuxStream, increment: number): void {
    if (!this.closed) this.options.sendControl([frameType.streamWindow, stream.id, increment]);
  }

  sendReset(stream: MuxStream, reason: StreamResetReason): void {
    if (!this.closed) this.options.sendControl([frameType.streamReset, stream.id, reason]);
  }

  /**
   * How much of `wanted` a window may grow by: grown windows together stay within half the buffer bound, so readers
   * that stall after their windows grew cannot fill it by themselves (streams within their windows are never shed).
   */
  allowGrowth(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.options.maxBufferedBytes / 2 - this.grown));
    this.grown += granted;
    return granted;
  }

  forget(stream: MuxStream): void {
    if (this.streams.delete(stream.id)) this.grown -= stream.grownBytes;
    if (stream.ready) {
      stream.ready = false;
      this.readyStreams = this.readyStreams.filter((waiting) => waiting !== stream);
    }
  }

  private peerOpened(id: number, tunnel: string): string | undefined {
    const peerParity = this.options.side === 'edge' ? 0 : 1;
    if (id % 2 !== peerParity || id <= this.lastPeerId)
      return `stream ${id} opened out of order (after ${this.lastPeerId})`;
    this.lastPeerId = id;
    const stream = new MuxStream(this, id, tunnel);
    this.streams.set(id, stream);
    try {
      this.options.onOpen(stream);
    } finally {
      // Nobody took it (or taking it failed): the peer hears so, and nothing stays half open.
      if (!stream.closed && !stream.attached) stream.reset('refused');
    }
    return undefined;
  }

  /** Whether `id` was opened on this mux by either side. */
  private opened(id: number): boolean {
    const ours = id % 2 === (this.options.side === 'edge' ? 1 : 0);
    return ours ? id < this.nextId : id <= this.lastPeerId;
  }

  /** Resets the streams holding most until the buffered bytes are within bounds: their readers fell behind. */
  private shedSlowest(): void {
    while (this.buffered > this.options.maxBufferedBytes) {
      let slowest: MuxStream | undefined;
      for (const stream of this.streams.values())
        if (!slowest || stream.unconsumed > slowest.unconsumed) slowest = stream;
      if (!slowest || slowest.unconsumed === 0) return;
      slowest.abort('slow');
    }
  }
}
