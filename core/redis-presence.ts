// Presence shared between the cores of a Redis engine (docs/protocol.md §9): each core writes its own members of a
// topic to a hash of its own, kept alive by refreshing its TTL (a dead core's members expire with it), lists itself in
// the topic's set of cores, and publishes announced joins and leaves on one channel that every core hears.

import type { Redis } from 'ioredis';
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

/** The hash of one core's members of `topic` (session → [user, edge] as JSON), and the set of cores with members. */
const membersKey = (prefix: string, topic: string, coreId: string): string => `${prefix}presence:${coreId}:${topic}`;
const coresKey = (prefix: string, topic: string): string => `${prefix}presence-cores:${topic}`;
export const presenceChannel = (prefix: string): string => `${prefix}presence-events`;

type Listener = (topic: string, session: string, member: StoredMember, joined: boolean) => void;

export class RedisPresence implements PresenceShare {
  /** This core's members: what the refresh keeps alive, and writes again after Redis lost them. */
  private readonly own = new Map<string, Map<string, StoredMember>>();
  /** Changes not yet written, by topic: written together once per turn. */
  private pending = new Map<string, Map<string, StoredMember | undefined>>();
  private events: string[] = [];
  private flushing = false;
  private listener: Listener = () => {};
  /** Redis may have lost what was written (it came back after an outage): the next refresh writes everything. */
  private rewrite = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: RedisPresenceOptions) {
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
    this.events.push(JSON.stringify([this.options.coreId, topic, joined, session, member.user, member.edge]));
    this.flushSoon();
  }

  async othersOf(topic: string): Promise<Map<string, StoredMember>> {
    const { commands, prefix, coreId } = this.options;
    const others = new Map<string, StoredMember>();
    const cores = (await this.run(() => commands.smembers(coresKey(prefix, topic)))).filter((id) => id !== coreId);
    if (cores.length === 0) return others;
    const pipeline = commands.pipeline();
    for (const id of cores) pipeline.hgetall(membersKey(prefix, topic, id));
    const replies = (await this.run(() => pipeline.exec())) ?? [];
    replies.forEach(([error, value], index) => {
      if (error) throw new RelayError('unavailable', 'redis unavailable');
      const fields = Object.entries(value as Record<string, string>);
      // A core whose members expired (it died): no longer listed, so later questions skip it.
      if (fields.length === 0) void commands.srem(coresKey(prefix, topic), cores[index]!).catch(() => undefined);
      for (const [session, text] of fields) {
        const member = memberOf(text);
        if (member) others.set(session, member);
      }
    });
    return others;
  }

  onEvent(listener: Listener): void {
    this.listener = listener;
  }

  /** A message on the presence channel: another core's announced join or leave. */
  heard(message: string): void {
    let event: unknown;
    try {
      event = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(event) || event.length !== 6) return;
    const [core, topic, joined, session, user, edge] = event as unknown[];
    if (core === this.options.coreId || typeof joined !== 'boolean') return;
    if (![topic, session, user, edge].every((value) => typeof value === 'string')) return;
    this.listener(topic as string, session as string, { user: user as string, edge: edge as string }, joined);
  }

  /** The command connection is back: Redis may have restarted empty, so the next refresh writes every member. */
  reconnected(): void {
    this.rewrite = true;
  }

  close(): void {
    clearInterval(this.timer);
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
    const events = this.events;
    this.pending = new Map();
    this.events = [];
    const { commands, prefix, coreId, ttlMs } = this.options;
    const pipeline = commands.pipeline();
    for (const [topic, changes] of pending) {
      const key = membersKey(prefix, topic, coreId);
      const joined = [...changes].filter(([, member]) => member !== undefined);
      const left = [...changes].filter(([, member]) => member === undefined).map(([session]) => session);
      if (joined.length > 0)
        pipeline.hset(key, Object.fromEntries(joined.map(([session, member]) => [session, textOf(member!)])));
      if (left.length > 0) pipeline.hdel(key, ...left);
      pipeline.pexpire(key, ttlMs);
      pipeline.sadd(coresKey(prefix, topic), coreId).pexpire(coresKey(prefix, topic), ttlMs);
    }
    for (const event of events) pipeline.publish(presenceChannel(prefix), event);
    // Lost writes are written again by the refresh that follows the outage; other cores miss those events.
    await this.run(() => pipeline.exec()).catch(() => (this.rewrite = true));
  }

  /** Keeps this core's members alive (and writes them all again after Redis came back). */
  private async refresh(): Promise<void> {
    if (this.own.size === 0) return;
    const { commands, prefix, coreId, ttlMs } = this.options;
    const rewrite = this.rewrite;
    this.rewrite = false;
    const pipeline = commands.pipeline();
    for (const [topic, members] of this.own) {
      const key = membersKey(prefix, topic, coreId);
      if (rewrite)
        pipeline.hset(key, Object.fromEntries([...members].map(([session, member]) => [session, textOf(member)])));
      pipeline.pexpire(key, ttlMs);
      pipeline.sadd(coresKey(prefix, topic), coreId).pexpire(coresKey(prefix, topic), ttlMs);
    }
    await this.run(() => pipeline.exec()).catch(() => (this.rewrite = true));
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
