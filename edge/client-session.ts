// One client session on an edge, whatever its transport: the `connect` handshake, the client ops
// (sub, unsub, pub, ping, presence) with their checks, limits and backend hooks, and cleanup when the client goes.

import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { packValue, type ClientOpParse } from '../shared/codec.js';
import { RelayError, closeCodes, toRelayError } from '../shared/errors.js';
import { Permissions } from '../shared/permissions.js';
import type {
  ClientOp,
  ConnectOp,
  Position,
  PresenceOp,
  PubOp,
  RequestId,
  SubOp,
  UnsubOp,
} from '../shared/protocol.js';
import { maxTimerMs, type LimitsConfig } from '../shared/topology.js';
import { isPattern, subscriptionProblem, topicProblem } from '../shared/topics.js';
import type { AddressShares } from './address-shares.js';
import type { BackendHooks, ConnectAnswer } from './backend-hooks.js';
import type { EdgePresence } from './presence.js';
import { LocalSubscription, type SubscriberSession } from './local-subscription.js';
import { RateLimiter, type RatePolicy } from './rate-limiter.js';
import { SubscriptionSet } from './subscription-set.js';
import type { SessionTransport } from './session-transport.js';
import type { TokenVerifier } from './token-verifier.js';

/** What a session needs of the edge's interest table (edge/interest-table.ts). */
export interface SubscriptionTable {
  add(subscription: LocalSubscription): void;
  remove(subscription: LocalSubscription): void;
  /** Whether the edge subscribes `filter` on its uplink already. */
  holds(filter: string): boolean;
  /** Whether one more subscription to `filter` fits the edge's topic limit. */
  hasRoomFor(filter: string): boolean;
}

/** What a session needs of the uplink (edge/uplink.ts): its publishes, answered once the core sequenced them. */
export interface Publisher {
  publish(topic: string, payload: Uint8Array, holdMs: number): Promise<Position>;
}

export interface SessionContext {
  edgeId: string;
  region: string;
  limits: LimitsConfig;
  interest: SubscriptionTable;
  uplink: Publisher;
  tokens: TokenVerifier;
  /** What each client address may hold of the edge's topic table and uplink queue. */
  shares: AddressShares;
  logger: Logger;
  /** Counts an op refused for the rate limit or a permission, for metrics. */
  onRefusedOp(reason: 'rate_limited' | 'forbidden'): void;
  /** Every session's message rate (`limits.messagesPerSecond`, `limits.messageBurst`), one object for all. */
  messageRate: RatePolicy;
  presence: EdgePresence;
  /** The backend asked before a connect, subscribe or publish, when the topology has hooks. */
  hooks?: BackendHooks;
}

/**
 * Replayed bytes that cost a session as much as one message: the largest replay (limits.maxReplayBytes, 4 MiB) costs
 * 128, within a fresh session's burst of 200, while a client asking for one after another pays with its rate.
 */
const replayBytesPerToken = 32 * 1024;
/** Bytes a publish counts for in its address's share at least: its op, promise and frame, whatever its payload. */
const minPublishCost = 256;
/** What a listed presence member costs in the answer besides its strings (field names, quotes), for the asker's rate. */
const presenceMemberOverhead = 40;
/** Ops a client may send after `connect` while its token is being checked; more is abuse. */
const maxQueuedWhileConnecting = 64;

export class ClientSession implements SubscriberSession {
  readonly id = randomBytes(16).toString('base64url');
  fanoutStamp = 0;
  private connected = false;
  private closed = false;
  /** Ops that came while `connect` was being checked, to run once it is. */
  private waitingForConnect: ClientOp[] | undefined;
  private permissions: Permissions = Permissions.open;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly rate: RateLimiter;
  private readonly subscriptions = new SubscriptionSet();
  /** Who the token (or the connect hook) says the client is: what presence shows. */
  private user: string | undefined;
  /** Topics whose `join` / `leave` this session asked for. */
  private listening: Set<string> | undefined;
  /** Publishes wait here for the publish hook one after the other, so the core sequences them in the client's order. */
  private publishTurn: Promise<void> | undefined;
  /** Publishes in that line, at most limits.maxPendingHookCallsPerAddress. */
  private publishesWaiting = 0;
  /** What the connect hook said (with hooks only): a token renewal keeps it rather than asking again. */
  private hookAnswer: ConnectAnswer | undefined;
  /** Dropped once connected: idle sessions are the bulk of an edge's memory, so they keep nothing they no longer need. */
  private connectTimer: NodeJS.Timeout | undefined;

  /** `address` is the client's (its IP), for the per-address shares; `headers` its request's, for a connect hook. */
  constructor(
    readonly transport: SessionTransport,
    private readonly context: SessionContext,
    readonly address: string,
    private headers?: IncomingHttpHeaders,
  ) {
    // Kept only until the connect hook has seen them, and only when there is one.
    if (!context.hooks?.has('connect')) this.headers = undefined;
    this.connectTimer = setTimeout(
      () => this.transport.close(closeCodes.connectTimeout, 'no connect in time'),
      context.limits.connectTimeoutMs,
    );
    this.rate = new RateLimiter(context.messageRate);
  }

  /** Whether the client has sent its `connect` (until then a stranger gets a smaller message size). */
  get greeted(): boolean {
    return this.connected || this.waitingForConnect !== undefined;
  }

  exactSubscription(topic: string): LocalSubscription | undefined {
    const subscription = this.subscriptions.get(topic);
    return subscription?.pattern === false ? subscription : undefined;
  }

  chargeReplay(bytes: number): void {
    this.rate.charge(Math.ceil(bytes / replayBytesPerToken));
  }

  /** Handles one decoded client message; never throws. */
  receive(parse: ClientOpParse): void {
    if (this.closed) return;
    if (parse.kind === 'fatal') return this.transport.close(closeCodes.protocolViolation, parse.reason);
    const name = parse.kind === 'op' ? parse.op.op : parse.op;
    const connecting = this.waitingForConnect !== undefined;
    if (!this.connected && !connecting && name !== 'connect')
      return this.transport.close(closeCodes.protocolViolation, '`connect` must come first');
    const decision = this.rate.take();
    if (decision === 'disconnect') return this.transport.close(closeCodes.rateLimited, 'message rate limit');
    if (decision === 'refuse') {
      this.context.onRefusedOp('rate_limited');
      return this.fail(
        parse.kind === 'op' ? parse.op.id : parse.id,
        new RelayError('rate_limited', 'too many messages; slow down'),
      );
    }
    if (parse.kind === 'invalid') return this.fail(parse.id, new RelayError('bad_request', parse.message));
    if (connecting) {
      if (this.waitingForConnect!.length >= maxQueuedWhileConnecting)
        return this.transport.close(closeCodes.protocolViolation, 'too many ops before `welcome`');
      this.waitingForConnect!.push(parse.op);
      return;
    }
    this.run(parse.op);
  }

  private run(op: ClientOp): void {
    try {
      this.dispatch(op);
    } catch (error) {
      const relayError = toRelayError(error);
      if (relayError.code === 'internal')
        this.context.logger.error({ session: this.id, err: error }, 'client op failed');
      this.fail(op.id, relayError);
    }
  }

  /** The transport is gone: drop every subscription. */
  closedByTransport(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    clearTimeout(this.expiryTimer);
    for (const subscription of this.subscriptions.list()) this.drop(subscription);
  }

  /** The core refused a subscription this session asked for (the interest table has already let it go). */
  refused(subscription: LocalSubscription, error: RelayError): void {
    if (this.subscriptions.get(subscription.filter) !== subscription) return;
    this.subscriptions.delete(subscription.filter);
    this.context.shares.releaseTopic(this.address, subscription.filter);
    this.leavePresence(subscription);
    this.fail(subscription.requestId, error);
  }

  private drop(subscription: LocalSubscription): void {
    this.subscriptions.delete(subscription.filter);
    this.context.interest.remove(subscription);
    this.context.shares.releaseTopic(this.address, subscription.filter);
    this.leavePresence(subscription);
  }

  /**
   * No longer present on its topic, nor listening to it. Present it was if answered: `answered` joined it (a session
   * drops its subscriptions as it closes, so none is answered while it is closed).
   */
  private leavePresence(subscription: LocalSubscription): void {
    const topic = subscription.filter;
    if (!subscription.pattern && subscription.answered) this.context.presence.leave(topic, this.id, this.presenceUser);
    if (this.listening?.delete(topic)) this.context.presence.unlisten(topic, this.transport);
  }

  /** Who presence shows this session as ('' for none). */
  get presenceUser(): string {
    return this.user ?? '';
  }

  private dispatch(op: ClientOp): void {
    switch (op.op) {
      case 'connect':
        return this.connect(op);
      case 'sub':
        return this.subscribe(op);
      case 'unsub':
        return this.unsubscribe(op);
      case 'pub':
        return this.publish(op);
      case 'ping':
        return this.transport.sendOp({ op: 'pong', ...idOf(op.id) });
      case 'presence':
        return this.askPresence(op);
    }
  }

  /**
   * Checks the token, then welcomes the client. A `connect` on a connected session renews its token (a new
   * `welcome` says so); a renewal that fails leaves the session on its old token until that expires.
   */
  private connect(op: ConnectOp): void {
    if (this.waitingForConnect) return this.fail(op.id, new RelayError('bad_request', 'already connecting'));
    const renewing = this.connected;
    if (!renewing) this.waitingForConnect = [];
    const stage = { failed: 'token' };
    this.admit(op.token, stage).then(
      ({ user, permissions, expiresAt }) => {
        if (this.closed) return;
        this.permissions = permissions;
        this.user = user;
        if (renewing) this.dropForbiddenSubscriptions();
        this.armExpiry(expiresAt);
        const { edgeId, region, limits } = this.context;
        if (!renewing) {
          this.connected = true;
          clearTimeout(this.connectTimer);
          this.connectTimer = undefined;
        }
        this.transport.sendOp({
          op: 'welcome',
          ...idOf(op.id),
          session: this.id,
          edge: edgeId,
          region,
          heartbeatMs: limits.heartbeatMs,
        });
        const waiting = this.waitingForConnect ?? [];
        this.waitingForConnect = undefined;
        for (const queued of waiting) this.run(queued);
      },
      (error: unknown) => {
        const relayError = toRelayError(error);
        if (renewing) return this.fail(op.id, relayError);
        this.waitingForConnect = undefined;
        this.context.logger.debug({ session: this.id, reason: relayError.message }, `client refused: ${stage.failed}`);
        // A refusal (token, or the backend's no) is final for this token; a backend that could not answer is not.
        this.transport.close(
          relayError.code === 'unauthorized' ? closeCodes.unauthorized : closeCodes.internal,
          relayError.message.slice(0, 120),
        );
      },
    );
  }

  /**
   * The token first, then the connect hook (once per session: a renewal keeps its answer), whose `user` and `topics`
   * act as the token's claims. `stage.failed` says which refused, for the log.
   */
  private async admit(
    token: string | undefined,
    stage: { failed: string },
  ): Promise<{ user: string | undefined; permissions: Permissions; expiresAt: number }> {
    const verified = await this.context.tokens.verify(token);
    const hooks = this.context.hooks;
    if (!hooks?.has('connect'))
      return { user: verified.subject, permissions: verified.permissions, expiresAt: verified.expiresAt };
    stage.failed = 'backend';
    const { edgeId, region } = this.context;
    const answer = (this.hookAnswer ??= await hooks.connect(this.address, {
      session: this.id,
      edge: edgeId,
      region,
      ip: this.address,
      ...(token !== undefined ? { token } : {}),
      headers: this.headers ?? {},
    }));
    this.headers = undefined;
    return {
      user: answer.user ?? verified.subject,
      permissions: answer.permissions ?? verified.permissions,
      expiresAt: verified.expiresAt,
    };
  }

  /** A renewed token may allow less: subscriptions it no longer covers end, each with `error` `forbidden`. */
  private dropForbiddenSubscriptions(): void {
    for (const subscription of this.subscriptions.list()) {
      const topic = subscription.filter;
      if (this.permissions.canSubscribe(topic)) continue;
      this.drop(subscription);
      this.fail(undefined, new RelayError('forbidden', `the renewed token does not allow ${topic}; unsubscribed`));
    }
  }

  /** A session ends when its token does (4401), unless a `connect` renews it first. */
  private armExpiry(expiresAt: number): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (!Number.isFinite(expiresAt)) return;
    // setTimeout cannot wait longer than maxTimerMs: a token that lives longer is checked again when it fires.
    this.expiryTimer = setTimeout(
      () => {
        if (Date.now() >= expiresAt) this.transport.close(closeCodes.unauthorized, 'token expired');
        else this.armExpiry(expiresAt);
      },
      Math.min(maxTimerMs, Math.max(0, expiresAt - Date.now())),
    );
  }

  private subscribe(op: SubOp): void {
    const problem = subscriptionProblem(op.topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    if (op.joinLeave && isPattern(op.topic))
      throw new RelayError('bad_request', '`joinLeave` needs a topic: presence is per topic, not per pattern');
    if (!this.permissions.canSubscribe(op.topic)) throw this.forbidden(`subscribe to ${op.topic}`);
    if (this.subscriptions.has(op.topic)) throw new RelayError('bad_request', `already subscribed to ${op.topic}`);
    const max = this.context.limits.maxSubscriptionsPerSession;
    if (this.subscriptions.size >= max)
      throw new RelayError('too_many_subscriptions', `at most ${max} subscriptions per session`);
    const { interest, shares, limits } = this.context;
    const known = interest.holds(op.topic);
    if (!interest.hasRoomFor(op.topic))
      throw new RelayError('too_many_subscriptions', 'this edge holds as many topics as it may');
    if (!shares.holdTopic(this.address, op.topic)) {
      throw new RelayError(
        'too_many_subscriptions',
        `this address holds ${limits.maxTopicsPerAddress} topics, its share of this edge`,
      );
    }
    if (!known && !shares.takeNewTopic(this.address)) {
      shares.releaseTopic(this.address, op.topic);
      this.context.onRefusedOp('rate_limited');
      throw new RelayError(
        'rate_limited',
        `this address subscribes to more new topics than ${limits.newTopicsPerSecondPerAddress} a second`,
      );
    }
    const pattern = isPattern(op.topic);
    const subscription = new LocalSubscription(this, op.topic, pattern, op.id, pattern ? undefined : op.since);
    this.subscriptions.add(subscription);
    const hooks = this.context.hooks;
    if (!hooks?.has('subscribe')) return this.take(subscription, op.joinLeave === true);
    // Held meanwhile (a second `sub` is refused, an `unsub` cancels it), taken only once the backend allows it.
    hooks
      .subscribe(this.address, { session: this.id, ...userOf(this.user), topic: op.topic })
      .then(() => {
        if (!this.closed && this.subscriptions.get(op.topic) === subscription)
          this.take(subscription, op.joinLeave === true);
      })
      .catch((error: unknown) => {
        if (this.closed || this.subscriptions.get(op.topic) !== subscription) return;
        this.subscriptions.delete(op.topic);
        shares.releaseTopic(this.address, op.topic);
        this.refuse(op.id, error);
      });
  }

  /** The subscription takes effect: the edge's interest (presence follows its answer). */
  private take(subscription: LocalSubscription, joinLeave: boolean): void {
    // Before the interest: a topic the edge holds already is answered at once, and the answer starts the listening.
    if (joinLeave) (this.listening ??= new Set()).add(subscription.filter);
    this.context.interest.add(subscription);
  }

  /** Present once its `subok` is out, so that the client's own answer comes before any `join` of it. */
  answered(subscription: LocalSubscription): void {
    const topic = subscription.filter;
    if (subscription.pattern || this.closed || this.subscriptions.get(topic) !== subscription) return;
    // Listening first: the session hears its own join, as every listener does.
    if (this.listening?.has(topic)) this.context.presence.listen(topic, this.transport);
    this.context.presence.join(topic, this.id, this.presenceUser);
  }

  /**
   * Who is present on a topic, across the mesh. Asking needs the right to subscribe to it (the subscribe hook's,
   * unless this session holds the subscription already); the answer is paid for in the message rate, as a replay is.
   */
  private askPresence(op: PresenceOp): void {
    const problem = topicProblem(op.topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    if (!this.permissions.canSubscribe(op.topic)) throw this.forbidden(`subscribe to ${op.topic}`);
    const hooks = this.context.hooks;
    const allowed =
      hooks?.has('subscribe') && !this.exactSubscription(op.topic)?.joined
        ? hooks.subscribe(this.address, { session: this.id, ...userOf(this.user), topic: op.topic })
        : Promise.resolve();
    allowed
      .then(() => this.context.presence.query(op.topic, this.address))
      .then(
        ({ count, members }) => {
          if (this.closed) return;
          this.chargeReplay(
            members.reduce(
              (bytes, { session, user, edge }) =>
                bytes + session.length + (user?.length ?? 0) + edge.length + presenceMemberOverhead,
              0,
            ),
          );
          this.transport.sendOp({ op: 'presenceok', ...idOf(op.id), topic: op.topic, count, members });
        },
        (error: unknown) => this.refuse(op.id, error),
      );
  }

  private unsubscribe(op: UnsubOp): void {
    const subscription = this.subscriptions.get(op.topic);
    if (!subscription) throw new RelayError('not_subscribed', `not subscribed to ${op.topic}`);
    this.drop(subscription);
    // Nothing goes unanswered: a `sub` still waiting for the core ends here.
    if (!subscription.answered)
      this.fail(
        subscription.requestId,
        new RelayError('not_subscribed', `unsubscribed from ${op.topic} before the subscription was answered`),
      );
    this.transport.sendOp({ op: 'unsubok', ...idOf(op.id) });
  }

  private publish(op: PubOp): void {
    const problem = topicProblem(op.topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    if (!this.permissions.canPublish(op.topic)) throw this.forbidden(`publish to ${op.topic}`);
    const payload = packValue(op.data);
    const max = this.context.limits.maxMessageBytes;
    if (payload.length > max) throw new RelayError('too_large', `data over ${max} bytes`);
    const { shares, limits } = this.context;
    // Counted at least at what a publish costs the edge besides its payload, so many empty ones are not free.
    const cost = Math.max(payload.length, minPublishCost);
    const hooks = this.context.hooks;
    if (hooks?.has('publish') && this.publishesWaiting >= limits.maxPendingHookCallsPerAddress)
      throw new RelayError(
        'unavailable',
        'too many publishes of this session wait for the backend; wait for their pubacks',
      );
    if (!shares.takePublish(this.address, cost)) {
      this.context.onRefusedOp('rate_limited');
      throw new RelayError(
        'rate_limited',
        `publishes from this address waiting for the core are over ${limits.maxPublishBytesPerAddress} bytes; wait for their pubacks`,
      );
    }
    let checked: Uint8Array | Promise<Uint8Array> = payload;
    if (hooks?.has('publish')) {
      this.publishesWaiting++;
      checked = (this.publishTurn ?? Promise.resolve())
        .then(() => this.askToPublish(hooks, op, payload))
        .finally(() => this.publishesWaiting--);
      this.publishTurn = checked.then(
        () => undefined,
        () => undefined,
      );
    }
    Promise.resolve(checked)
      .then((sent) => this.context.uplink.publish(op.topic, sent, limits.publishHoldMs))
      .then(
        (position) =>
          this.transport.sendOp({ op: 'puback', ...idOf(op.id), epoch: position.epoch, offset: position.offset }),
        (error: unknown) => this.refuse(op.id, error),
      )
      .finally(() => shares.releasePublish(this.address, cost));
  }

  /** Answers a failed request; a refusal (the backend's no) is counted as a forbidden op, as the token's are. */
  private refuse(id: RequestId | undefined, error: unknown): void {
    const relayError = toRelayError(error);
    if (relayError.code === 'forbidden') this.context.onRefusedOp('forbidden');
    this.fail(id, relayError);
  }

  /** The payload the backend lets through: the client's, or the backend's replacement. */
  private async askToPublish(hooks: BackendHooks, op: PubOp, payload: Uint8Array): Promise<Uint8Array> {
    // Publishes queued behind the hook are dropped with their session: its client is gone and no puback can reach it.
    if (this.closed) throw new RelayError('unavailable', 'the session closed');
    const answer = await hooks.publish(this.address, {
      session: this.id,
      ...userOf(this.user),
      topic: op.topic,
      data: op.data,
    });
    if (!answer.replaced) return payload;
    const replaced = packValue(answer.data);
    const max = this.context.limits.maxMessageBytes;
    if (replaced.length > max) throw new RelayError('too_large', `the backend's data is over ${max} bytes`);
    return replaced;
  }

  private forbidden(what: string): RelayError {
    this.context.onRefusedOp('forbidden');
    return new RelayError('forbidden', `the token does not allow to ${what}`);
  }

  private fail(id: RequestId | undefined, error: RelayError): void {
    if (!this.closed) this.transport.sendOp({ op: 'error', ...idOf(id), code: error.code, message: error.message });
  }
}

function userOf(user: string | undefined): { user?: string } {
  return user === undefined ? {} : { user };
}

function idOf(id: RequestId | undefined): { id?: RequestId } {
  return id === undefined ? {} : { id };
}
