// One client session on an edge, whatever its transport: the `connect` handshake, the client ops
// (sub, unsub, pub, ping) with their checks and limits, and cleanup when the client goes.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { packValue, type ClientOpParse } from '../shared/codec.js';
import { RelayError, closeCodes, toRelayError } from '../shared/errors.js';
import type { ClientOp, PubOp, RequestId, SubOp, UnsubOp } from '../shared/protocol.js';
import type { LimitsConfig } from '../shared/topology.js';
import { isPattern, subscriptionProblem, topicProblem } from '../shared/topics.js';
import type { InterestTable } from './interest-table.js';
import { LocalSubscription, type SubscriberSession } from './local-subscription.js';
import type { SessionTransport } from './session-transport.js';
import type { Uplink } from './uplink.js';

export interface SessionContext {
  edgeId: string;
  region: string;
  limits: LimitsConfig;
  interest: InterestTable;
  uplink: Uplink;
  logger: Logger;
}

export class ClientSession implements SubscriberSession {
  readonly id = randomBytes(16).toString('base64url');
  fanoutStamp = 0;
  private connected = false;
  private closed = false;
  private readonly subscriptions = new Map<string, LocalSubscription>();
  /** Dropped once connected: idle sessions are the bulk of an edge's memory, so they keep nothing they no longer need. */
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(readonly transport: SessionTransport, private readonly context: SessionContext) {
    this.connectTimer = setTimeout(() => this.transport.close(closeCodes.connectTimeout, 'no connect in time'), context.limits.connectTimeoutMs);
  }

  exactSubscription(topic: string): LocalSubscription | undefined {
    const subscription = this.subscriptions.get(topic);
    return subscription?.pattern === false ? subscription : undefined;
  }

  /** Handles one decoded client message; never throws. */
  receive(parse: ClientOpParse): void {
    if (this.closed) return;
    if (parse.kind === 'fatal') return this.transport.close(closeCodes.protocolViolation, parse.reason);
    const name = parse.kind === 'op' ? parse.op.op : parse.op;
    if (!this.connected && name !== 'connect') return this.transport.close(closeCodes.protocolViolation, '`connect` must come first');
    if (parse.kind === 'invalid') return this.fail(parse.id, new RelayError('bad_request', parse.message));
    const op = parse.op;
    try {
      this.dispatch(op);
    } catch (error) {
      this.context.logger.error({ session: this.id, err: error }, 'client op failed');
      this.fail(op.id, toRelayError(error));
    }
  }

  /** The transport is gone: drop every subscription. */
  closedByTransport(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    for (const subscription of this.subscriptions.values()) this.context.interest.remove(subscription);
    this.subscriptions.clear();
  }

  /** The core refused a subscription this session asked for. */
  refused(subscription: LocalSubscription, error: RelayError): void {
    if (this.subscriptions.get(subscription.subscription) !== subscription) return;
    this.subscriptions.delete(subscription.subscription);
    this.fail(subscription.request?.id, error);
  }

  private dispatch(op: ClientOp): void {
    switch (op.op) {
      case 'connect': return this.connect(op.id);
      case 'sub': return this.subscribe(op);
      case 'unsub': return this.unsubscribe(op);
      case 'pub': return this.publish(op);
      case 'ping': return this.transport.sendOp({ op: 'pong', ...idOf(op.id) });
    }
  }

  private connect(id: RequestId | undefined): void {
    if (this.connected) return this.fail(id, new RelayError('bad_request', 'already connected'));
    this.connected = true;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const { edgeId, region, limits } = this.context;
    this.transport.sendOp({ op: 'welcome', ...idOf(id), session: this.id, edge: edgeId, region, heartbeatMs: limits.heartbeatMs });
  }

  private subscribe(op: SubOp): void {
    const problem = subscriptionProblem(op.topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    if (this.subscriptions.has(op.topic)) throw new RelayError('bad_request', `already subscribed to ${op.topic}`);
    const max = this.context.limits.maxSubscriptionsPerSession;
    if (this.subscriptions.size >= max) throw new RelayError('too_many_subscriptions', `at most ${max} subscriptions per session`);
    const pattern = isPattern(op.topic);
    const subscription = new LocalSubscription(this, op.topic, pattern, op.id, pattern ? undefined : op.since);
    this.subscriptions.set(op.topic, subscription);
    this.context.interest.add(subscription);
  }

  private unsubscribe(op: UnsubOp): void {
    const subscription = this.subscriptions.get(op.topic);
    if (!subscription) throw new RelayError('not_subscribed', `not subscribed to ${op.topic}`);
    this.subscriptions.delete(op.topic);
    this.context.interest.remove(subscription);
    // Nothing goes unanswered: a `sub` still waiting for the core ends here.
    if (subscription.request) this.fail(subscription.request.id, new RelayError('not_subscribed', `unsubscribed from ${op.topic} before the subscription was answered`));
    this.transport.sendOp({ op: 'unsubok', ...idOf(op.id) });
  }

  private publish(op: PubOp): void {
    const problem = topicProblem(op.topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    const payload = packValue(op.data);
    const max = this.context.limits.maxMessageBytes;
    if (payload.length > max) throw new RelayError('too_large', `data over ${max} bytes`);
    this.context.uplink.publish(op.topic, payload, this.context.limits.publishHoldMs).then(
      (position) => this.transport.sendOp({ op: 'puback', ...idOf(op.id), epoch: position.epoch, offset: position.offset }),
      (error: unknown) => this.fail(op.id, toRelayError(error)),
    );
  }

  private fail(id: RequestId | undefined, error: RelayError): void {
    if (!this.closed) this.transport.sendOp({ op: 'error', ...idOf(id), code: error.code, message: error.message });
  }
}

function idOf(id: RequestId | undefined): { id?: RequestId } {
  return id === undefined ? {} : { id };
}
