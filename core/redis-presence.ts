// Presence shared between the cores of a Redis engine (docs/protocol.md §9): each core process writes its own members
// of a topic to a hash of its own, kept alive by refreshing its TTL (a dead or restarted core's members expire with
// it), lists itself with an expiry in the topic's sorted set of writers, and publishes announced joins and leaves, and
// the edges that come to it, on one channel that every core hears.

import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RelayError } from '../shared/errors.js';
import type { PresenceShare, StoredMember } from './presence-book.js';

export interface RedisPresenceOptions {
  commands: Redis;
  prefix: string;
  coreId: string;
  /** How long a core's members outlive its last refresh. */
  ttlMs: number;
  logger: Logger;
}

/**
 * The hash of one core process's members of `topic` (session → [user, edge] as JSON), and the sorted set of the
 * processes writing members of it, scored by when their hash expires.
 */
const membersKey = (prefix: string, topic: string, writer: string): string => `${prefix}presence:${writer}:${topic}`;
const writersKey = (prefix: string, topic: string): string => `${prefix}presence-writers:${topic}`;
export const presenceChannel = (prefix: string): string => `${prefix}presence-events`;

type EventListener = (topic: string, session: string, member: StoredMember, joined: boolean) => void;

export class RedisPresence implements PresenceShare {
  /**
   * This process: its core id and a random part, so a core restarted under the same id writes a new hash and the old
   * one (with sessions that left while it was down) expires instead of living on.
   */
  private readonly writer: string;
  /** This core's members: what the refresh keeps alive, and writes again after Redis lost them. */
  private readonly own = new Map<string, Map<string, StoredMember>>();
  /** Changes not yet written, by topic: written together once per turn. */
  private pending = new Map<string, Map<string, StoredMember | undefined>>();
  private messages: string[] = [];
  private flushing = false;
  private eventListener: EventListener = () => {};
  private arrivedListener: (edge: string) => void = () => {};
  private expiredListener: (edge: string) => void = () => {};
  /** Redis may have lost what was written (it came back after an outage): the next refresh writes everything. */
  private rewrite = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: RedisPresenceOptions) {
    this.writer = `${options.coreId}/${randomBytes(6).toString('base64url')}`;
    this.timer = setInterval(() => void this.refresh(), Math.max(1, Math.floor(options.ttlMs / 3)));
    this.timer.unref();
  }

  changed(topic: string, session: string, member: StoredMember, joined: boolean): void {
    let own = this.own.get(topic);
    if (joined) {
      if (!own) this.own.set(topic, (own = new Map()));
      own.set(session, member);
    } else if (own?.delete(session) && own.size === 0) this.own.delete(topic);
    let changes = this.pending.get(topic);
    if (!changes) this.pending.set(topic, (changes = new Map()));
    changes.set(session, joined ? member : undefined);
    this.flushSoon();
  }

  announce(topic: string, session: string, member: StoredMember, joined: boolean): void {
    this.publish([this.writer, 'member', topic, joined, session, member.user, member.edge]);
  }

  edgeArrived(edge: string): void {
    this.publish([this.writer, 'arrived', edge]);
  }

  edgeExpired(edge: string): void {
    this.publish([this.writer, 'expired', edge]);
  }

  async othersOf(topic: string): Promise<{ members: Map<string, StoredMember>; unlisted: number }> {
    const { commands, prefix } = this.options;
    const others = new Map<string, StoredMember>();
    const writers = await this.run(() => commands.zrangebyscore(writersKey(prefix, topic), Date.now(), '+inf'));
    const elsewhere = writers.filter((writer) => writer !== this.writer);
    if (elsewhere.length === 0) return { members: others, unlisted: 0 };
    const pipeline = commands.pipeline();
    for (const writer of elsewhere) pipeline.hgetall(membersKey(prefix, topic, writer));
    for (const [error, value] of (await this.run(() => pipeline.exec())) ?? []) {
      if (error) throw new RelayError('unavailable', 'redis unavailable');
      for (const [session, text] of Object.entries(value as Record<string, string>)) {
        const member = memberOf(text);
        if (member) others.set(session, member);
      }
    }
    return { members: others, unlisted: 0 };
  }

  onEvent(listener: EventListener): void {
    this.eventListener = listener;
  }

  onEdgeArrived(listener: (edge: string) => void): void {
    this.arrivedListener = listener;
  }

  onEdgeExpired(listener: (edge: string) => void): void {
    this.expiredListener = listener;
  }

  /** A message on the presence channel: another core's announced join or leave, or an edge that came to it or expired. */
  heard(message: string): void {
    let value: unknown;
    try {
      value = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(value) || value[0] === this.writer) return;
    const kind: unknown = value[1];
    if (value.length === 3 && typeof value[2] === 'string') {
      if (kind === 'arrived') this.arrivedListener(value[2]);
      if (kind === 'expired') this.expiredListener(value[2]);
      return;
    }
    const [, , topic, joined, session, user, edge] = value as unknown[];
    if (kind !== 'member' || value.length !== 7 || typeof joined !== 'boolean') return;
    if (![topic, session, user, edge].every((field) => typeof field === 'string')) return;
    this.eventListener(topic as string, session as string, { user: user as string, edge: edge as string }, joined);
  }

  /** The command connection is back: Redis may have restarted empty, so the next refresh writes every member. */
  reconnected(): void {
    this.rewrite = true;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private publish(event: unknown[]): void {
    this.messages.push(JSON.stringify(event));
    this.flushSoon();
  }

  /** Once per turn, whatever changed in it. */
  private flushSoon(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.flushing = false;
    const pending = this.pending;
    const messages = this.messages;
    this.pending = new Map();
    this.messages = [];
    const { commands, prefix } = this.options;
    const pipeline = commands.pipeline();
    for (const [topic, changes] of pending) {
      const key = membersKey(prefix, topic, this.writer);
      const joined = [...changes].filter(([, member]) => member !== undefined);
      const left = [...changes].filter(([, member]) => member === undefined).map(([session]) => session);
      if (joined.length > 0)
        pipeline.hset(key, Object.fromEntries(joined.map(([session, member]) => [session, textOf(member!)])));
      if (left.length > 0) pipeline.hdel(key, ...left);
      this.keepAlive(pipeline, topic);
    }
    for (const message of messages) pipeline.publish(presenceChannel(prefix), message);
    // Lost writes wait for the next flush (a newer change of the same session wins) and the refresh after the outage
    // writes every member again; other cores miss the events.
    await this.run(() => pipeline.exec()).catch(() => {
      this.rewrite = true;
      for (const [topic, changes] of pending) {
        const newer = this.pending.get(topic);
        if (!newer) this.pending.set(topic, changes);
        else for (const [session, member] of changes) if (!newer.has(session)) newer.set(session, member);
      }
    });
  }

  /** Keeps this core's members alive; after Redis came back, writes them anew (and nothing it no longer holds). */
  private async refresh(): Promise<void> {
    if (this.pending.size > 0) this.flushSoon();
    if (this.own.size === 0) return;
    const { commands, prefix } = this.options;
    const rewrite = this.rewrite;
    this.rewrite = false;
    const pipeline = commands.multi();
    for (const [topic, members] of this.own) {
      const key = membersKey(prefix, topic, this.writer);
      if (rewrite) {
        pipeline.del(key);
        pipeline.hset(key, Object.fromEntries([...members].map(([session, member]) => [session, textOf(member)])));
      }
      this.keepAlive(pipeline, topic);
    }
    await this.run(() => pipeline.exec()).catch(() => (this.rewrite = true));
  }

  /** This process's hash of `topic` lives `ttlMs` more, and the topic's writers list it until then. */
  private keepAlive(pipeline: ChainableCommander, topic: string): void {
    const { prefix, ttlMs } = this.options;
    const writers = writersKey(prefix, topic);
    const now = Date.now();
    pipeline
      .pexpire(membersKey(prefix, topic, this.writer), ttlMs)
      .zadd(writers, now + ttlMs, this.writer)
      .zremrangebyscore(writers, '-inf', now)
      .pexpire(writers, ttlMs);
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.options.commands.status !== 'ready') throw new RelayError('unavailable', 'redis unavailable');
    try {
      return await command();
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'presence: redis command failed');
      throw new RelayError('unavailable', 'redis unavailable');
    }
  }
}

function textOf(member: StoredMember): string {
  return JSON.stringify([member.user, member.edge]);
}

function memberOf(text: string): StoredMember | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'string')
      return { user: value[0], edge: value[1] };
  } catch {
    // Not ours: ignored.
  }
  return undefined;
}
