// The send side of an uplink (or a tunnel link), the same on the edge and on the core: frames queued in three classes
// and sent as one WebSocket message per event-loop turn. Control frames always go at once; messages go while the
// socket's own buffer is under a low-water mark; bulk frames (replays) go after them, a bounded chunk per turn, and
// their producers wait for room; tunnel data is taken last, a bounded amount per turn (shared/stream-mux.ts). Everything waiting, ours and
// the socket's, is measured against one byte bound.

/** Control: small answers and housekeeping. Message: live pub/sub traffic. Bulk: what may wait behind both. */
export type FrameClass = 'control' | 'message' | 'bulk';

export interface UplinkOutboxOptions {
  /** Sends one WebSocket message; `sent` runs once the kernel has taken it (or the socket is gone). */
  send(message: Buffer, sent: () => void): void;
  /** Bytes the socket holds that the kernel has not taken yet (ws `bufferedAmount`). */
  buffered(): number;
  /** Above this many bytes in the socket, only control frames are sent; the rest waits in our queues. Default 1 MiB. */
  lowWaterBytes?: number;
  /** Bulk bytes sent per turn at most, so one replay cannot fill the socket ahead of the next live message. Default 256 KiB. */
  bulkChunkBytes?: number;
  /** Called for every WebSocket message sent, for metrics. */
  onSend?(bytes: number, frames: number): void;
}

/** Where tunnel data comes from: the streams of the uplink (shared/stream-mux.ts), which keep it until taken. */
export interface StreamSource {
  readonly hasData: boolean;
  take(budget: number): Buffer[];
}

const defaultLowWaterBytes = 1024 * 1024;
const defaultBulkChunkBytes = 256 * 1024;
/**
 * Live frames sent in one WebSocket message at most: an edge reporting every member of its sessions after a reconnect
 * queues hundreds of thousands at once, which must go as several messages, each well under the peer's size limit.
 */
const maxMessageClassBytes = 4 * 1024 * 1024;

export class UplinkOutbox {
  private readonly queues: Record<FrameClass, Buffer[]> = { control: [], message: [], bulk: [] };
  private readonly queuedBytes: Record<FrameClass, number> = { control: 0, message: 0, bulk: 0 };
  private scheduled = false;
  /** Bulk producers waiting for room, served one at a time in turn so that concurrent replays share the link. */
  private readonly bulkWaiters: Array<() => void> = [];
  private closed = false;
  private readonly lowWaterBytes: number;
  private readonly bulkChunkBytes: number;
  private streams: StreamSource | undefined;

  constructor(private readonly options: UplinkOutboxOptions) {
    this.lowWaterBytes = options.lowWaterBytes ?? defaultLowWaterBytes;
    this.bulkChunkBytes = options.bulkChunkBytes ?? defaultBulkChunkBytes;
  }

  /** Carries the tunnel data of `streams` too; call wake() when they have some. */
  carry(streams: StreamSource): void {
    this.streams = streams;
  }

  /** Something new waits in a source the outbox pulls from: send it within a turn. */
  wake(): void {
    this.schedule();
  }

  /** Everything waiting to reach the peer: our queues and the socket's buffer. */
  get pendingBytes(): number {
    return this.queuedBytes.control + this.queuedBytes.message + this.queuedBytes.bulk + this.options.buffered();
  }

  push(frame: Buffer, frameClass: FrameClass): void {
    if (this.closed) return;
    this.queues[frameClass].push(frame);
    this.queuedBytes[frameClass] += frame.length;
    this.schedule();
  }

  /**
   * Resolves when a bulk producer may push its next chunk: no bulk frame waits, and the socket is under its low-water
   * mark. Producers are served in the order they asked; a closed outbox never resolves (the producer is dropped).
   */
  bulkRoom(): Promise<void> {
    return new Promise((resolve) => {
      this.bulkWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Sends what is queued now (as a turn's end would), within the same rules. */
  flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    const frames = this.take('control', Number.POSITIVE_INFINITY);
    // Over the mark, messages and bulk wait: a message already in the socket will wake us when the kernel takes it.
    if (this.options.buffered() <= this.lowWaterBytes) {
      append(frames, this.take('message', maxMessageClassBytes));
      append(frames, this.take('bulk', this.bulkChunkBytes));
      // Tunnel data: as much per turn as a replay chunk, all streams together.
      if (this.streams?.hasData) append(frames, this.streams.take(this.bulkChunkBytes));
    }
    if (frames.length > 0) {
      const message = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
      this.options.onSend?.(message.length, frames.length);
      this.options.send(message, this.sent);
    }
    this.wakeBulkProducer();
  }

  /** Drops everything queued; bulk producers waiting for room are never woken (they belong to a link that is gone). */
  close(): void {
    this.closed = true;
    for (const frameClass of ['control', 'message', 'bulk'] as const) {
      this.queues[frameClass] = [];
      this.queuedBytes[frameClass] = 0;
    }
    this.bulkWaiters.length = 0;
    this.streams = undefined;
  }

  /** The kernel took one of our messages: whatever waited for room may go now. */
  private readonly sent = (): void => {
    if (
      this.queues.message.length > 0 ||
      this.queues.bulk.length > 0 ||
      this.bulkWaiters.length > 0 ||
      this.streams?.hasData
    )
      this.schedule();
  };

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Frames of one class from the front of its queue, up to `budget` bytes (at least one frame when any wait). */
  private take(frameClass: FrameClass, budget: number): Buffer[] {
    const queue = this.queues[frameClass];
    if (queue.length === 0) return [];
    let count = 0;
    let bytes = 0;
    while (count < queue.length && (count === 0 || bytes + queue[count]!.length <= budget))
      bytes += queue[count++]!.length;
    this.queuedBytes[frameClass] -= bytes;
    if (count === queue.length) {
      this.queues[frameClass] = [];
      return queue;
    }
    return queue.splice(0, count);
  }

  private wakeBulkProducer(): void {
    if (this.queues.bulk.length > 0 || this.options.buffered() > this.lowWaterBytes) return;
    this.bulkWaiters.shift()?.();
  }
}

/** `into.push(...more)` without spreading: a spread of a few hundred thousand frames overflows the stack. */
function append(into: Buffer[], more: Buffer[]): void {
  for (const frame of more) into.push(frame);
}
