// The Redis engine: streams sequenced by Lua scripts in a Redis shared by several cores, history in Redis Streams
// (bounded by count and age), live fan-out between cores over Redis pub/sub, an epoch that outlives any core, and
// presence shared between cores (core/redis-presence.ts).

import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { RelayError } from '../shared/errors.js';
import { isCoreShare, type CoreMeshShare } from '../shared/mesh-status.js';
import type { Position } from '../shared/protocol.js';
import { isPattern, matches } from '../shared/topics.js';
import type { Engine, EngineStatus, StoredMessage } from './engine.js';
import { Condition } from '../shared/condition.js';
import {
  channelPrefix,
  dedupeKey,
  epochKey,
  meshCoresKey,
  meshKey,
  followScript,
  globOf,
  positionScript,
  publishScript,
  readScript,
  topicKeys,
} from './redis-scripts.js';
import { StreamFollower } from './stream-follower.js';
import { RedisPresence, presenceChannel } from './redis-presence.js';

export interface RedisEngineOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
  /** Prefix of every key and channel, so several meshes (or tests) can share one Redis. Default `relaymesh:`. */
  keyPrefix?: string;
  /** Messages kept per topic. */
  maxMessages: number;
  /** Messages older than this (by Redis' clock) are no longer replayed. */
  maxAgeMs: number;
  /** How long a publish key is remembered in Redis, so a publish resent to another core is not sequenced twice. Default 5 minutes. */
  dedupeTtlMs?: number;
  /** A Redis command without an answer within this fails (`unavailable`). Default 5 s. */
  commandTimeoutMs?: number;
  /** How long a core's presence members outlive its last refresh (a dead core's members expire). Default 30 s. */
  presenceTtlMs?: number;
  logger: Logger;
}

type Script<T> = (...args: Array<string | Buffer | number>) => Promise<T>;

/** The commands that `defineCommand` adds (ioredis types them only at run time). */
interface Scripts {
  relaymeshPublish: Script<[string, number, number]>;
  relaymeshPosition: Script<[string, number]>;
  relaymeshReadBuffer: Script<Buffer[] | null>;
  relaymeshFollowBuffer: Script<Buffer[]>;
}

/** Messages fetched per round trip when a core catches up on what its pub/sub connection missed. */
const followPage = 500;

export class RedisEngine implements Engine {
  private readonly prefix: string;
  private readonly commands: Redis & Scripts;
  private readonly subscriber: Redis;
  private readonly listeners: Array<(message: StoredMessage) => void> = [];
  private readonly resetListeners: Array<() => void> = [];
  /** The store's epoch as last seen; a different one means Redis lost its data. */
  private knownEpoch: string | undefined;
  /** Whether the epoch was read since the command connection last came up (Redis may have restarted empty). */
  private epochChecked = false;
  /** The pub/sub connection resubscribed after an outage; what it missed is read once the store can be read. */
  private catchUpPending = false;
  private readonly exact = new Set<string>();
  private readonly patterns = new Map<string, string>();
  /** Per watched subscription: its SUBSCRIBE on the current pub/sub connection. */
  private readonly following = new Map<string, Promise<void>>();
  private readonly follower: StreamFollower;
  private errors = 0;
  private down = new Set<string>();
  private closed = false;
  /** Waiters for a state of the engine (available, say); checked at every change of it. */
  private readonly statusChanges = new Condition(() => {
    if (this.closed) throw new RelayError('unavailable', 'engine closed');
    return this.status();
  });
  /** Where Redis is, without credentials, for logs. */
  private readonly where: string;
  /** This core's presence members and events, shared with the other cores; made by presenceShare. */
  private presence: RedisPresence | undefined;

  constructor(private readonly options: RedisEngineOptions) {
    this.prefix = options.keyPrefix ?? 'relaymesh:';
    this.where = describe(options.url);
    const common: RedisOptions = {
      // Fail fast while Redis is away: a publish must be refused (503, `unavailable`), not queued for minutes.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
      lazyConnect: true,
    };
    this.commands = new Redis(options.url, { ...common, connectionName: 'relaymesh-core' }) as Redis & Scripts;
    this.commands.defineCommand('relaymeshPublish', { numberOfKeys: 4, lua: publishScript });
    this.commands.defineCommand('relaymeshPosition', { numberOfKeys: 2, lua: positionScript });
    this.commands.defineCommand('relaymeshRead', { numberOfKeys: 3, lua: readScript });
    this.commands.defineCommand('relaymeshFollow', { numberOfKeys: 2, lua: followScript });
    // The engine resubscribes itself after a reconnect, and then fills what the connection missed.
    this.subscriber = new Redis(options.url, {
      ...common,
      autoResubscribe: false,
      connectionName: 'relaymesh-core-sub',
    });
    this.follower = new StreamFollower(
      (topic, from) => this.fetchFrom(topic, from),
      (message) => this.emit(message),
      (topic, error) =>
        this.failed('could not fill a gap in a followed topic; its edges may miss messages', error, { topic }),
    );
    this.watchConnection(this.commands, 'commands', () => this.connected());
    this.watchConnection(this.subscriber, 'pub/sub', () => this.resubscribe());
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.heard(channel, message, undefined));
    this.subscriber.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) =>
      this.heard(channel, message, pattern),
    );
    // Connecting is not awaited: a core starts (and says 503) while Redis is away, and recovers when it returns.
    this.commands.connect().catch(() => undefined);
    this.subscriber.connect().catch(() => undefined);
  }

  /** Resolves once both connections are up and the epoch is known, or rejects (`unavailable`) after `ms`. */
  whenAvailable(ms: number): Promise<void> {
    return this.whenStatus((status) => status.unavailable === undefined, ms);
  }

  /** Resolves once `wanted` holds of the engine's status (checked at every change), or rejects after `ms`. */
  whenStatus(wanted: (status: EngineStatus) => boolean, ms: number): Promise<void> {
    return this.statusChanges
      .until(
        wanted,
        ms,
        () =>
          new RelayError(
            'unavailable',
            `${this.status().unavailable ?? 'redis status'} (${this.where}): not as wanted within ${ms} ms`,
          ),
      )
      .then(() => undefined);
  }

  async publish(topic: string, data: Uint8Array, dedupe?: string): Promise<StoredMessage> {
    const keys = topicKeys(this.prefix, topic);
    const [epoch, offset] = await this.run(() =>
      this.commands.relaymeshPublish(
        epochKey(this.prefix),
        keys.seq,
        keys.stream,
        dedupeKey(this.prefix, dedupe ?? ''),
        newEpoch(),
        bufferOf(data),
        this.options.maxMessages,
        this.options.maxAgeMs,
        keys.channel,
        dedupe === undefined ? 0 : (this.options.dedupeTtlMs ?? 300_000),
      ),
    );
    this.noteEpoch(epoch);
    return { topic, epoch, offset, data };
  }

  async exchangeMesh(own: CoreMeshShare, ttlMs: number): Promise<CoreMeshShare[]> {
    const coreIds = await this.run(async () => {
      const replies = await this.commands
        .multi()
        .set(meshKey(this.prefix, own.core[0]), JSON.stringify(own), 'PX', ttlMs)
        .sadd(meshCoresKey(this.prefix), own.core[0])
        .smembers(meshCoresKey(this.prefix))
        .exec();
      return (replies?.[2]?.[1] ?? []) as string[];
    });
    const others = coreIds.filter((id) => id !== own.core[0]);
    if (others.length === 0) return [];
    const shares = await this.run(() => this.commands.mget(others.map((id) => meshKey(this.prefix, id))));
    // A core that stopped sharing has expired: its edges drop out of everyone's view.
    return shares.flatMap((text) => {
      if (text === null) return [];
      try {
        const share: unknown = JSON.parse(text);
        return isCoreShare(share) ? [share as CoreMeshShare] : [];
      } catch {
        return [];
      }
    });
  }

  presenceShare(coreId: string): RedisPresence {
    this.presence ??= new RedisPresence({
      commands: this.commands,
      prefix: this.prefix,
      coreId,
      ttlMs: this.options.presenceTtlMs ?? 30_000,
      logger: this.options.logger,
    });
    if (this.subscriber.status === 'ready') this.followPresence();
    return this.presence;
  }

  async position(topic: string): Promise<Position> {
    const [epoch, offset] = await this.run(() =>
      this.commands.relaymeshPosition(epochKey(this.prefix), topicKeys(this.prefix, topic).seq, newEpoch()),
    );
    this.noteEpoch(epoch);
    return { epoch, offset };
  }

  async read(topic: string, epoch: string, from: number, to: number): Promise<StoredMessage[] | null> {
    const keys = topicKeys(this.prefix, topic);
    const payloads = await this.run(() =>
      this.commands.relaymeshReadBuffer(
        epochKey(this.prefix),
        keys.seq,
        keys.stream,
        epoch,
        from,
        to,
        this.options.maxAgeMs,
      ),
    );
    if (payloads === null) return null;
    return payloads.map((data, i) => ({ topic, epoch, offset: from + i, data }));
  }

  onMessage(listener: (message: StoredMessage) => void): void {
    this.listeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  watch(subscription: string): void {
    if (isPattern(subscription)) this.patterns.set(globOf(this.prefix, subscription), subscription);
    else this.exact.add(subscription);
    // Its failure is counted and logged by follow itself; a later ready() reports it to whoever waits.
    if (this.subscriber.status === 'ready') void this.follow(subscription);
  }

  unwatch(subscription: string): void {
    const pattern = isPattern(subscription);
    if (pattern) this.patterns.delete(globOf(this.prefix, subscription));
    else this.exact.delete(subscription);
    this.following.delete(subscription);
    if (this.subscriber.status === 'ready') {
      const done = pattern
        ? this.subscriber.punsubscribe(globOf(this.prefix, subscription))
        : this.subscriber.unsubscribe(this.channelOf(subscription));
      done.catch((error: unknown) => this.failed('unsubscribe failed', error));
    }
    this.follower.forget((topic) => this.covers(topic));
  }

  async ready(subscription: string): Promise<void> {
    const following = this.subscriber.status === 'ready' ? this.following.get(subscription) : undefined;
    if (!following) throw new RelayError('unavailable', 'redis unavailable');
    await following;
  }

  status(): EngineStatus {
    let unavailable: string | undefined;
    if (this.commands.status !== 'ready' || this.subscriber.status !== 'ready') unavailable = 'redis unavailable';
    else if (!this.epochChecked) unavailable = 'redis not ready';
    return { unavailable, errors: this.errors };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.length = 0;
    // Whoever waits for a status gets its answer now, not at its deadline.
    this.statusChanges.notify();
    this.presence?.close();
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  /** Logs going down once per outage, not once per reconnect attempt. */
  private watchConnection(redis: Redis, name: string, onReady: () => void): void {
    redis.on('error', (error: Error) => {
      this.errors++;
      if (!this.down.has(name) && !this.closed)
        this.options.logger.error(
          { redis: this.where, connection: name, err: error.message },
          'redis unavailable; retrying',
        );
      this.down.add(name);
      this.statusChanged();
    });
    redis.on('close', () => {
      if (!this.down.has(name) && !this.closed)
        this.options.logger.error({ redis: this.where, connection: name }, 'redis connection lost; retrying');
      this.down.add(name);
      if (redis === this.commands) this.epochChecked = false;
      this.statusChanged();
    });
    redis.on('ready', () => {
      if (this.down.delete(name))
        this.options.logger.info({ redis: this.where, connection: name }, 'redis connection back');
      else this.options.logger.info({ redis: this.where, connection: name }, 'redis connected');
      onReady();
      this.statusChanged();
    });
  }

  /** The command connection is (back) up: learn the epoch, which tells whether Redis kept its data. */
  private connected(attempt = 1): void {
    if (attempt === 1) this.presence?.reconnected();
    this.commands.relaymeshPosition(epochKey(this.prefix), `${this.prefix}seq:`, newEpoch()).then(
      ([epoch]) => {
        this.noteEpoch(epoch);
        this.epochChecked = true;
        this.statusChanged();
      },
      (error: unknown) => {
        this.failed('could not read the epoch; trying again', error);
        // Until it is read the core reports itself unavailable, so a failed read is retried while the link is up.
        if (!this.closed && this.commands.status === 'ready')
          setTimeout(() => this.connected(attempt + 1), Math.min(100 * attempt, 2000)).unref();
      },
    );
  }

  /** The pub/sub connection is (back) up: subscribe everything watched, then fill what was missed meanwhile. */
  private resubscribe(): void {
    if (this.presence) this.followPresence();
    const all = [...this.exact, ...this.patterns.values()].map((subscription) => this.follow(subscription));
    void Promise.allSettled(all).then(() => {
      this.catchUpPending = true;
      this.tryCatchUp();
    });
  }

  /** Catching up reads the streams, so it waits for the command connection too (the two reconnect independently). */
  private tryCatchUp(): void {
    if (!this.catchUpPending || this.status().unavailable !== undefined) return;
    this.catchUpPending = false;
    this.follower.catchUp();
  }

  private follow(subscription: string): Promise<void> {
    const following = isPattern(subscription)
      ? this.subscriber.psubscribe(globOf(this.prefix, subscription)).then(() => undefined)
      : this.subscriber.subscribe(this.channelOf(subscription)).then(() => {
          // Best effort: without a baseline, only messages missed after the first one heard can be filled.
          this.position(subscription).then(
            ({ epoch, offset }) => {
              // Unwatched meanwhile: a baseline now would keep state for a topic nobody follows.
              if (this.covers(subscription)) this.follower.baseline(subscription, epoch, offset);
            },
            () => undefined,
          );
        });
    const guarded = following.catch((error: unknown) => {
      this.failed('subscribe failed', error, { subscription });
      throw new RelayError('unavailable', 'redis unavailable');
    });
    guarded.catch(() => undefined);
    this.following.set(subscription, guarded);
    return guarded;
  }

  private followPresence(): void {
    this.subscriber
      .subscribe(presenceChannel(this.prefix))
      .catch((error: unknown) => this.failed('presence: subscribe failed', error));
  }

  private heard(channel: Buffer, message: Buffer, pattern: Buffer | undefined): void {
    if (!pattern && this.presence && channel.toString('utf8') === presenceChannel(this.prefix))
      return this.presence.heard(message.toString('utf8'));
    const topic = channel.toString('utf8').slice(channelPrefix(this.prefix).length);
    // Redis globs over-match (`*` also spans dots): the project's own matcher decides.
    if (pattern) {
      const subscription = this.patterns.get(pattern.toString('utf8'));
      if (subscription === undefined || !matches(subscription, topic)) return;
    }
    const first = message.indexOf(0x3a);
    const second = message.indexOf(0x3a, first + 1);
    const offset = Number(message.toString('latin1', 0, first));
    if (first < 1 || second < 0 || !Number.isSafeInteger(offset)) return;
    const epoch = message.toString('latin1', first + 1, second);
    this.noteEpoch(epoch);
    this.follower.arrive({ topic, epoch, offset, data: message.subarray(second + 1) });
  }

  private async fetchFrom(
    topic: string,
    from: number,
  ): Promise<{ epoch: string; messages: StoredMessage[]; full: boolean } | null> {
    const reply = await this.run(() =>
      this.commands.relaymeshFollowBuffer(
        epochKey(this.prefix),
        topicKeys(this.prefix, topic).stream,
        from,
        followPage,
      ),
    );
    if (reply.length === 0) return null;
    const epoch = reply[0]!.toString('latin1');
    const messages: StoredMessage[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2)
      messages.push({ topic, epoch, offset: Number(reply[i]!.toString('latin1')), data: reply[i + 1]! });
    return { epoch, messages, full: messages.length === followPage };
  }

  private emit(message: StoredMessage): void {
    for (const listener of this.listeners) listener(message);
  }

  private covers(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    for (const pattern of this.patterns.values()) if (matches(pattern, topic)) return true;
    return false;
  }

  private noteEpoch(epoch: string): void {
    if (this.knownEpoch === epoch) return;
    const previous = this.knownEpoch;
    this.knownEpoch = epoch;
    if (previous === undefined) return;
    this.options.logger.warn(
      { redis: this.where, previous, epoch },
      'redis lost its data: every stream has a new epoch; edges resubscribe and their clients get reset',
    );
    for (const listener of this.resetListeners) listener();
  }

  private statusChanged(): void {
    this.statusChanges.notify();
    this.tryCatchUp();
  }

  private channelOf(topic: string): string {
    return topicKeys(this.prefix, topic).channel;
  }

  /** Runs a command; a failure becomes `unavailable` for whoever asked (publisher, subscriber), and is counted. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.commands.status !== 'ready') {
      this.errors++;
      throw new RelayError('unavailable', 'redis unavailable');
    }
    try {
      return await command();
    } catch (error) {
      this.errors++;
      if (error instanceof Error && error.name === 'ReplyError') {
        this.options.logger.error({ redis: this.where, err: error.message }, 'redis refused a command');
        throw new RelayError('internal', 'redis refused a command');
      }
      throw new RelayError('unavailable', 'redis unavailable');
    }
  }

  private failed(what: string, error: unknown, context: Record<string, unknown> = {}): void {
    this.errors++;
    if (!this.closed)
      this.options.logger.warn(
        { redis: this.where, ...context, err: error instanceof Error ? error.message : String(error) },
        what,
      );
  }
}

/**
 * Proposed as the epoch whenever a script finds the store without one: fresh each time, so a Redis that lost its data
 * never gets back an epoch that this core proposed (and had accepted) before.
 */
function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

function bufferOf(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** host:port/db of a Redis URL: what logs may show (never the password). */
export function describe(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'redis';
  }
}
