// The engine interface: where streams are sequenced and history is kept.
// The router and the uplink code talk only to this, so a Redis engine can replace the in-memory one.

import type { Position } from '../shared/protocol.js';

export interface StoredMessage {
  topic: string;
  epoch: string;
  offset: number;
  /** The payload as msgpack bytes, never decoded by the core. */
  data: Uint8Array;
}

export interface Engine {
  /** Sequences a message: gives it the topic's next offset, stores it, and passes it to every `onMessage` listener. */
  publish(topic: string, data: Uint8Array): Promise<StoredMessage>;
  /** The position of the newest message of `topic` (offset 0 when it has none yet). */
  position(topic: string): Promise<Position>;
  /**
   * The messages of `topic` with offsets in [from, to] in `epoch`, in order; null when any of them is no longer
   * held (evicted, or the epoch is not the stream's current one).
   */
  read(topic: string, epoch: string, from: number, to: number): Promise<StoredMessage[] | null>;
  /** Called for every sequenced message, in offset order per topic, including those other cores sequenced. */
  onMessage(listener: (message: StoredMessage) => void): void;
  close(): Promise<void>;
}
