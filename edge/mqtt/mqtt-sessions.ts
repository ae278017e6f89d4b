// MQTT sessions on one edge: the live connection of each client id (a new one takes over, as MQTT says) and the
// persistent sessions (clean session false) kept in edge memory between connections, bounded in number and age.

import { LRUCache } from 'lru-cache';
import type { Position } from '../../shared/protocol.js';
import type { EdgeStateKey } from '../protocol-adapter.js';

export interface StoredSubscription {
  /** As the client wrote it, and as relaymesh names it. */
  filter: string;
  topic: string;
  qos: 0 | 1;
  /** Exact topics: the last message the client had (QoS 1: that it acknowledged), to resume after. */
  position: Position | undefined;
  /** Held only as the parent-topic companion of a `/#` filter, not for a filter of its own. */
  companion?: true;
}

export interface StoredSession {
  subscriptions: StoredSubscription[];
}

/** What the registry needs of a live connection: to end it when another connects with its client id. */
export interface MqttConnection {
  takeOver(): void;
}

/**
 * How long a persistent session is kept at most: the core's default history window (`history.maxAgeMs`), beyond
 * which the positions it holds could not be resumed from anyway. MQTT 5 clients may ask for less.
 */
export const maxSessionTtlMs = 300_000;
/** Persistent sessions one edge keeps; the least recently used goes first. */
const maxStoredSessions = 10_000;

export class MqttSessions {
  private readonly stored = new LRUCache<string, StoredSession>({ max: maxStoredSessions, ttl: maxSessionTtlMs });
  private readonly live = new Map<string, MqttConnection>();

  /** Keeps a session for `ttlMs` (at most the maximum); 0 keeps nothing. */
  save(clientId: string, session: StoredSession, ttlMs: number): void {
    if (ttlMs <= 0) return void this.stored.delete(clientId);
    this.stored.set(clientId, session, { ttl: Math.min(ttlMs, maxSessionTtlMs) });
  }

  /** The stored session of `clientId`, removed: it is live again until its connection ends. */
  take(clientId: string): StoredSession | undefined {
    const session = this.stored.get(clientId);
    this.stored.delete(clientId);
    return session;
  }

  /** Makes `connection` the live one for `clientId`, ending the one before it (which saves its session first). */
  claim(clientId: string, connection: MqttConnection): void {
    const previous = this.live.get(clientId);
    this.live.set(clientId, connection);
    if (previous && previous !== connection) previous.takeOver();
  }

  release(clientId: string, connection: MqttConnection): void {
    if (this.live.get(clientId) === connection) this.live.delete(clientId);
  }

  get storedCount(): number {
    return this.stored.size;
  }
}

/** One registry per edge (AdapterContext.edgeState). */
export const mqttSessionsKey: EdgeStateKey<MqttSessions> = { create: () => new MqttSessions() };
