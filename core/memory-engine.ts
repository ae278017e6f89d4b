// The default engine: streams and bounded history held in this process.
// A restart loses history, so every stream gets a fresh epoch and resubscribing edges are told to reset.

import { randomBytes } from 'node:crypto';
import type { CoreMeshShare } from '../shared/mesh-status.js';
import type { Position } from '../shared/protocol.js';
import type { Engine, EngineStatus, StoredMessage } from './engine.js';

export interface MemoryEngineOptions {
  /** Messages kept per topic. */
  maxMessages: number;
  /** Messages older than this are dropped from history. */
  maxAgeMs: number;
  /** The clock, in ms; tests may pass their own. */
  now?: () => number;
}

interface Stream {
  /** Offset of the newest message; 0 when none. */
  last: number;
  /** History, oldest first: messages with offsets (last - messages.length, last]. */
  messages: StoredMessage[];
  times: number[];
  /** Index of the oldest kept entry; entries before it are dropped lazily to keep eviction O(1). */
  head: number;
}

export class MemoryEngine implements Engine {
  /** One epoch for all streams: they all lose their history together, when this process does. */
  readonly epoch = randomBytes(6).toString('base64url');
  private readonly streams = new Map<string, Stream>();
  private readonly listeners: Array<(message: StoredMessage) => void> = [];
  private readonly now: () => number;

  /** Age eviction also runs on its own, so topics nobody publishes to or reads from still free their history. */
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: MemoryEngineOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => {
      for (const stream of this.streams.values()) this.evict(stream);
    }, Math.max(1000, Math.min(options.maxAgeMs, 60_000)));
    this.sweeper.unref();
  }

  async publish(topic: string, data: Uint8Array): Promise<StoredMessage> {
    return this.append(topic, data);
  }

  /** The synchronous core of `publish`. */
  append(topic: string, data: Uint8Array): StoredMessage {
    let stream = this.streams.get(topic);
    if (!stream) {
      stream = { last: 0, messages: [], times: [], head: 0 };
      this.streams.set(topic, stream);
    }
    stream.last++;
    const message: StoredMessage = { topic, epoch: this.epoch, offset: stream.last, data };
    stream.messages.push(message);
    stream.times.push(this.now());
    this.evict(stream);
    for (const listener of this.listeners) listener(message);
    return message;
  }

  async position(topic: string): Promise<Position> {
    return { epoch: this.epoch, offset: this.streams.get(topic)?.last ?? 0 };
  }

  async read(topic: string, epoch: string, from: number, to: number): Promise<StoredMessage[] | null> {
    if (epoch !== this.epoch) return null;
    const stream = this.streams.get(topic);
    const last = stream?.last ?? 0;
    if (from > to) return to <= last ? [] : null;
    if (!stream || to > last) return null;
    this.evict(stream);
    const held = stream.messages.length - stream.head;
    const oldest = last - held + 1;
    if (from < oldest) return null;
    const start = stream.head + (from - oldest);
    return stream.messages.slice(start, start + (to - from + 1));
  }

  onMessage(listener: (message: StoredMessage) => void): void {
    this.listeners.push(listener);
  }

  // Every message of this process passes through `append`, so there is nothing to follow and nothing to wait for.
  watch(): void {}

  unwatch(): void {}

  async ready(): Promise<void> {}

  /** History lives and dies with this process, so it never loses continuity under running uplinks. */
  onReset(): void {}

  status(): EngineStatus {
    return { unavailable: undefined, errors: 0 };
  }

  /** The streams are this process's: no other core shares them, so there is nothing to exchange. */
  async exchangeMesh(): Promise<CoreMeshShare[]> {
    return [];
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.streams.clear();
    this.listeners.length = 0;
  }

  private evict(stream: Stream): void {
    const { maxMessages, maxAgeMs } = this.options;
    const oldestAllowed = this.now() - maxAgeMs;
    while (stream.messages.length - stream.head > maxMessages || (stream.head < stream.times.length && stream.times[stream.head]! < oldestAllowed)) {
      stream.head++;
    }
    // Compact once the dropped prefix dominates (or is everything), so memory stays bounded by maxMessages.
    if (stream.head > 0 && (stream.head === stream.messages.length || (stream.head > 64 && stream.head * 2 > stream.messages.length))) {
      stream.messages = stream.messages.slice(stream.head);
      stream.times = stream.times.slice(stream.head);
      stream.head = 0;
    }
  }
}
