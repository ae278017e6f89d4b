// The default engine: streams and bounded history held in this process. History is bounded per topic (count, age)
// and in total (bytes, oldest first across topics), and a topic nobody watches is forgotten once its history is gone.
// A restart loses history, so every stream gets a fresh epoch and resubscribing edges are told to reset.

import { randomBytes } from 'node:crypto';
import { ownBytes } from '../shared/codec.js';
import type { CoreMeshShare } from '../shared/mesh-status.js';
import { OldestFirstBudget, type BoundedQueue } from '../shared/oldest-first.js';
import type { Position } from '../shared/protocol.js';
import { isPattern } from '../shared/topics.js';
import { defaultHistory } from '../shared/topology.js';
import type { Engine, EngineStatus, StoredMessage } from './engine.js';

export interface MemoryEngineOptions {
  /** Messages kept per topic. */
  maxMessages: number;
  /** Messages older than this are dropped from history. */
  maxAgeMs: number;
  /** Bytes of history kept across all topics; beyond it the oldest messages go first. Default: the topology's default. */
  maxBytes?: number;
  /** The clock, in ms; tests may pass their own. */
  now?: () => number;
}

/** What a held message costs beyond its payload: the message object, its slots in two arrays. */
const messageOverheadBytes = 64;

const bytesOf = (message: StoredMessage): number => message.data.length + messageOverheadBytes;

class Stream implements BoundedQueue {
  budgetSlot = -1;
  /** Offset of the newest message; 0 when none. */
  last = 0;
  /** History, oldest first: messages with offsets (last - size, last]. */
  messages: StoredMessage[] = [];
  times: number[] = [];
  /** Index of the oldest kept entry; entries before it are dropped lazily to keep eviction O(1). */
  head = 0;

  constructor(readonly epoch: string) {}

  get size(): number {
    return this.messages.length - this.head;
  }

  oldestStamp(): number {
    return this.times[this.head]!;
  }

  dropOldest(): number {
    const bytes = bytesOf(this.messages[this.head]!);
    this.head++;
    // Compact once the dropped prefix dominates (or is everything), so memory stays bounded by what is held.
    if (this.head === this.messages.length || (this.head > 64 && this.head * 2 > this.messages.length)) {
      this.messages = this.messages.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return bytes;
  }
}

export class MemoryEngine implements Engine {
  /** The epoch of every stream until a topic is first forgotten; those created after that have one of their own. */
  readonly epoch = randomBytes(6).toString('base64url');
  private readonly streams = new Map<string, Stream>();
  private readonly listeners: Array<(message: StoredMessage) => void> = [];
  private readonly now: () => number;
  private readonly budget: OldestFirstBudget<Stream>;
  /** Exact topics some edge subscribes to: their streams are never forgotten. */
  private readonly watched = new Set<string>();
  /**
   * Counts the sweeps that forgot a topic. A stream made after one gets a newer epoch, so a client that resumes a
   * forgotten topic with its old position is told `recovered: false` instead of having new offsets taken for old.
   */
  private forgetGeneration = 0;

  /** Age eviction (and forgetting) also runs on its own, so topics nobody publishes to or reads from still free their history. */
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: MemoryEngineOptions) {
    this.now = options.now ?? Date.now;
    this.budget = new OldestFirstBudget(options.maxBytes ?? defaultHistory.maxBytes);
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(options.maxAgeMs, 60_000)));
    this.sweeper.unref();
  }

  /** Topics known (with history, or watched), and the bytes of history held: for tests and metrics. */
  get held(): { topics: number; bytes: number } {
    return { topics: this.streams.size, bytes: this.budget.bytes };
  }

  async publish(topic: string, data: Uint8Array): Promise<StoredMessage> {
    return this.append(topic, data);
  }

  /** The synchronous core of `publish`. */
  append(topic: string, data: Uint8Array): StoredMessage {
    const stream = this.streamOf(topic);
    stream.last++;
    // Kept for minutes: its own bytes, so that what history counts is what it holds.
    const message: StoredMessage = { topic, epoch: stream.epoch, offset: stream.last, data: ownBytes(data) };
    stream.messages.push(message);
    stream.times.push(this.now());
    this.budget.changed(stream, bytesOf(message));
    this.evict(stream);
    for (const listener of this.listeners) listener(message);
    return message;
  }

  async position(topic: string): Promise<Position> {
    const stream = this.streams.get(topic);
    return { epoch: stream?.epoch ?? this.newEpoch(), offset: stream?.last ?? 0 };
  }

  async read(topic: string, epoch: string, from: number, to: number): Promise<StoredMessage[] | null> {
    const stream = this.streams.get(topic);
    if (epoch !== (stream?.epoch ?? this.newEpoch())) return null;
    const last = stream?.last ?? 0;
    if (from > to) return to <= last ? [] : null;
    if (!stream || to > last) return null;
    this.evict(stream);
    const oldest = last - stream.size + 1;
    if (from < oldest) return null;
    const start = stream.head + (from - oldest);
    return stream.messages.slice(start, start + (to - from + 1));
  }

  onMessage(listener: (message: StoredMessage) => void): void {
    this.listeners.push(listener);
  }

  // Every message of this process passes through `append`, so there is nothing to follow and nothing to wait for;
  // watching only keeps a topic's stream (and so its epoch and offsets) from being forgotten.
  watch(subscription: string): void {
    if (isPattern(subscription)) return;
    this.watched.add(subscription);
    this.streamOf(subscription);
  }

  unwatch(subscription: string): void {
    this.watched.delete(subscription);
  }

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

  private streamOf(topic: string): Stream {
    let stream = this.streams.get(topic);
    if (!stream) {
      stream = new Stream(this.newEpoch());
      this.streams.set(topic, stream);
    }
    return stream;
  }

  private newEpoch(): string {
    return this.forgetGeneration === 0 ? this.epoch : `${this.epoch}.${this.forgetGeneration}`;
  }

  private evict(stream: Stream): void {
    const { maxMessages, maxAgeMs } = this.options;
    const oldestAllowed = this.now() - maxAgeMs;
    let freed = 0;
    while (stream.size > maxMessages || (stream.size > 0 && stream.oldestStamp() < oldestAllowed))
      freed += stream.dropOldest();
    if (freed > 0) this.budget.changed(stream, -freed);
  }

  /** Ages out history everywhere, and forgets the topics left with none that no edge watches (runs periodically). */
  sweep(): void {
    let forgot = false;
    for (const [topic, stream] of this.streams) {
      this.evict(stream);
      if (stream.size > 0 || this.watched.has(topic)) continue;
      this.streams.delete(topic);
      forgot = true;
    }
    if (forgot) this.forgetGeneration++;
  }
}
