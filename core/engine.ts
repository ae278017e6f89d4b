// The engine interface: where streams are sequenced and history is kept.
// The router and the uplink code talk only to this, so a Redis engine can replace the in-memory one.

import type { CoreMeshShare } from '../shared/mesh-status.js';
import type { Position } from '../shared/protocol.js';
import type { PresenceShare } from './presence-book.js';

export interface StoredMessage {
  topic: string;
  epoch: string;
  offset: number;
  /** The payload as msgpack bytes, never decoded by the core. */
  data: Uint8Array;
}

/** What health checks and metrics need to know of an engine. */
export interface EngineStatus {
  /** Why the engine cannot sequence or read now (e.g. `redis unavailable`); undefined when it can. */
  unavailable: string | undefined;
  /** Errors the engine met talking to its store, since it started. */
  errors: number;
}

export interface Engine {
  /**
   * Sequences a message: gives it the topic's next offset, stores it, and passes it to every `onMessage` listener.
   * With `dedupeKey`, an engine shared by several cores may answer a publish it already sequenced under that key with
   * the first position instead of sequencing it again (a publish resent to another core after a failover).
   */
  publish(topic: string, data: Uint8Array, dedupeKey?: string): Promise<StoredMessage>;
  /** The position of the newest message of `topic` (offset 0 when it has none yet). */
  position(topic: string): Promise<Position>;
  /**
   * The messages of `topic` with offsets in [from, to] in `epoch`, in order; null when any of them is no longer
   * held (evicted, or the epoch is not the stream's current one).
   */
  read(topic: string, epoch: string, from: number, to: number): Promise<StoredMessage[] | null>;
  /**
   * Called for every sequenced message of a watched topic or pattern, once per message however many watched
   * subscriptions match it, in offset order per topic, including those other cores sequenced.
   */
  onMessage(listener: (message: StoredMessage) => void): void;
  /** The router calls this when a topic or pattern gains its first interested uplink: the engine starts following it. */
  watch(subscription: string): void;
  /** ... and this when it loses its last one. */
  unwatch(subscription: string): void;
  /**
   * Resolves once messages of a watched `subscription` sequenced from now on are sure to reach `onMessage`, so that a
   * position read after it misses nothing live; rejects (`unavailable`) when the engine cannot follow it now.
   */
  ready(subscription: string): Promise<void>;
  /**
   * Called when streams lost their continuity under running uplinks (a shared store lost its data, so every epoch
   * changed): the core makes its edges resubscribe, and their clients get `reset`.
   */
  onReset(listener: () => void): void;
  status(): EngineStatus;
  /**
   * Shares what this core knows of the mesh (itself and its edges, kept `ttlMs`) with the other cores of the engine,
   * and returns what they shared; an engine of one core returns none. So every core, and through it every edge,
   * knows every edge of the mesh for /v1/locate.
   */
  exchangeMesh(own: CoreMeshShare, ttlMs: number): Promise<CoreMeshShare[]>;
  /**
   * How core `coreId` shares its presence members and events with the other cores of the engine; absent for an
   * engine of one core. Closed with the engine.
   */
  presenceShare?(coreId: string): PresenceShare;
  close(): Promise<void>;
}
