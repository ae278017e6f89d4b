// The session's answers to an MQTT client's requests, in MQTT's terms: subok, unsubok, puback and error become SUBACK,
// UNSUBACK and PUBACK (a SUBACK once every filter has its code, PUBACKs in the order of their PUBLISHes), and a new
// subscription's retained message is fetched once its subok is in.

import type { Packet } from 'mqtt-packet';
import { closeCodeForError, type ErrorCode } from '../../shared/errors.js';
import type { ErrorOp, Position, PubackOp, SubokOp, UnsubokOp } from '../../shared/protocol.js';
import type { SessionPort } from '../protocol-adapter.js';
import { RequestTracker } from '../request-tracker.js';
import type { MqttVersion } from './mqtt-codec.js';
import type { ConnectTerms } from './mqtt-connect.js';
import { reason, reasonOfError, subackFailure } from './mqtt-reasons.js';
import type { MqttSubscriptions, Subscription } from './mqtt-subscriptions.js';

/** A SUBSCRIBE or UNSUBSCRIBE: one code per topic filter, answered when the last one is known. */
export interface SubscribeRequest {
  packetId: number;
  codes: number[];
  remaining: number;
}

/** A QoS 1 PUBLISH's answer, held until the answers of every PUBLISH before it are out (3.1.1 §4.6). */
export interface Puback {
  packetId: number;
  /** Undefined until the session answered. */
  reasonCode: number | undefined;
  reasonString?: string;
}

/**
 * What an op handed to the session was for, found again by the id of its answer. A `sub` without an index is a `/#`
 * filter's companion: its SUBACK waits for it too, but the code is the filter's own.
 */
export type Pending =
  | { kind: 'connect'; terms: ConnectTerms }
  | {
      kind: 'sub';
      request: SubscribeRequest | undefined;
      index: number | undefined;
      subscription: Subscription;
      retained: boolean;
    }
  | { kind: 'retained'; subscription: Subscription }
  | { kind: 'unsub'; request: SubscribeRequest | undefined; index: number }
  | { kind: 'pub'; ack: Puback | undefined }
  | { kind: 'quiet' };

/** What answering needs of the connection. */
export interface AnswerPort {
  /** The client's protocol level, known from its CONNECT before any request. */
  version(): MqttVersion;
  send(packet: Packet): void;
  /** Ends the connection; a connected MQTT 5 client first gets a DISCONNECT with `reasonCode`. */
  end(code: number, message: string, reasonCode: number): void;
  /** The session while the connection is connected and not yet closed. */
  liveSession(): SessionPort | undefined;
}

export class MqttAnswers {
  readonly requests = new RequestTracker<Pending>();
  private readonly pubacks: Puback[] = [];

  constructor(
    private readonly subscriptions: MqttSubscriptions,
    private readonly port: AnswerPort,
  ) {}

  /** A SUBSCRIBE or UNSUBSCRIBE of `filters` topic filters, answered once each has its code. */
  request(packetId: number, filters: number): SubscribeRequest {
    return { packetId, codes: [], remaining: filters };
  }

  /** A QoS 1 PUBLISH takes its place in the order of PUBACKs. */
  expectPuback(packetId: number): Puback {
    const ack: Puback = { packetId, reasonCode: undefined };
    this.pubacks.push(ack);
    return ack;
  }

  answer(op: SubokOp | UnsubokOp | PubackOp | ErrorOp): void {
    switch (op.op) {
      case 'subok':
        return this.subscribed(op);
      case 'unsubok': {
        const pending = this.requests.take(op.id);
        if (pending?.kind === 'unsub') this.answerUnsubscribe(pending.request, pending.index, reason.success);
        return;
      }
      case 'puback': {
        const pending = this.requests.take(op.id);
        if (pending?.kind === 'pub' && pending.ack) this.answerPublish(pending.ack, reason.success);
        return;
      }
      case 'error':
        return this.failed(op);
    }
  }

  /** A companion will be subscribed for a filter of `request`: its SUBACK waits for that answer too (or `settle`). */
  expectCompanion(request: SubscribeRequest): void {
    request.remaining++;
  }

  /** Answers one filter of a SUBSCRIBE (no index: a companion's answer, or one expected and not needed after all). */
  answerFilter(request: SubscribeRequest, index: number | undefined, code: number): void {
    if (index !== undefined) request.codes[index] = code;
    if (--request.remaining === 0)
      this.port.send({ cmd: 'suback', messageId: request.packetId, granted: request.codes });
  }

  /** Ends a session subscription the client never asked for by name (a companion); its answer goes nowhere. */
  unsubscribeQuietly(topic: string): void {
    this.port
      .liveSession()
      ?.receive({ kind: 'op', op: { op: 'unsub', id: this.requests.add({ kind: 'quiet' }), topic } });
  }

  answerUnsubscribe(request: SubscribeRequest | undefined, index: number, code: number): void {
    if (!request) return;
    request.codes[index] = code;
    if (--request.remaining > 0) return;
    // 3.1.1's UNSUBACK carries no codes.
    this.port.send(
      this.port.version() === 5
        ? { cmd: 'unsuback', messageId: request.packetId, granted: request.codes }
        : { cmd: 'unsuback', messageId: request.packetId, granted: [] },
    );
  }

  /**
   * A refused PUBLISH: MQTT 5 answers a QoS 1 one with a PUBACK reason code and goes on; QoS 0 and 3.1.1 have no way
   * to refuse in place, so the connection ends (MQTT 5 with a DISCONNECT saying why), as 3.1.1 §4.8 allows.
   */
  refusePublish(ack: Puback | undefined, code: ErrorCode, message: string): void {
    if (this.port.version() === 5 && ack) return this.answerPublish(ack, reasonOfError(code, 'name'), message);
    this.port.end(closeCodeForError(code), message, reasonOfError(code, 'name'));
  }

  /** Answers a QoS 1 PUBLISH, and sends every answer that no longer waits for an earlier one. */
  private answerPublish(ack: Puback, reasonCode: number, reasonString?: string): void {
    ack.reasonCode = reasonCode;
    if (reasonString !== undefined) ack.reasonString = reasonString;
    while (this.pubacks[0]?.reasonCode !== undefined) {
      const { packetId, reasonCode: code, reasonString: text } = this.pubacks.shift()!;
      this.port.send({
        cmd: 'puback',
        messageId: packetId,
        reasonCode: code,
        ...(text === undefined ? {} : { properties: { reasonString: text } }),
      });
    }
  }

  private subscribed(op: SubokOp): void {
    const pending = this.requests.take(op.id);
    if (pending?.kind === 'retained') {
      const subscription = pending.subscription;
      if (!this.subscriptions.holds(subscription)) return;
      subscription.phase = 'live';
      // History no longer holds the newest message: no retained message, the stream goes on from here.
      if (!op.recovered) {
        subscription.retainAt = 0;
        subscription.position =
          op.epoch === undefined ? subscription.position : { epoch: op.epoch, offset: op.offset ?? 0 };
      }
      return;
    }
    if (pending?.kind !== 'sub') return;
    const { subscription } = pending;
    if (this.subscriptions.holds(subscription)) {
      if (op.epoch !== undefined && !op.recovered) subscription.position = { epoch: op.epoch, offset: op.offset ?? 0 };
      const newest = op.offset ?? 0;
      if (pending.retained && op.epoch !== undefined && newest > 0)
        this.fetchRetained(subscription, { epoch: op.epoch, offset: newest });
      else subscription.phase = 'live';
    }
    if (pending.request) this.answerFilter(pending.request, pending.index, subscription.qos);
  }

  /**
   * The retained message is the newest of the topic: subscribe again from just before it, so it comes first (with
   * the retain flag) and everything after it follows in order. After the answer, not inside it: the session is
   * still finishing the subscription this one replaces.
   */
  private fetchRetained(subscription: Subscription, newest: Position): void {
    subscription.phase = 'retained';
    subscription.retainAt = newest.offset;
    queueMicrotask(() => {
      const session = this.port.liveSession();
      if (!session || !this.subscriptions.holds(subscription)) return;
      this.unsubscribeQuietly(subscription.topic);
      const id = this.requests.add({ kind: 'retained', subscription });
      session.receive({
        kind: 'op',
        op: { op: 'sub', id, topic: subscription.topic, since: { epoch: newest.epoch, offset: newest.offset - 1 } },
      });
    });
  }

  private failed(op: ErrorOp): void {
    const pending = this.requests.take(op.id);
    if (!pending || pending.kind === 'quiet') return;
    switch (pending.kind) {
      case 'sub': {
        const { subscription, request } = pending;
        // A subscription the client already unsubscribed ends quietly: it asked for that.
        const current = this.subscriptions.holds(subscription);
        const companion = current ? this.subscriptions.forget(subscription, true) : undefined;
        // Not from inside the session's answer: it may be refusing this subscription while walking its table.
        if (companion !== undefined) queueMicrotask(() => this.unsubscribeQuietly(companion));
        if (request)
          this.answerFilter(
            request,
            pending.index,
            !current ? subscription.qos : this.port.version() === 5 ? reasonOfError(op.code, 'filter') : subackFailure,
          );
        return;
      }
      case 'retained':
        if (!this.subscriptions.holds(pending.subscription)) return;
        return this.port.end(
          closeCodeForError(op.code),
          `the subscription to ${pending.subscription.filter} could not be renewed: ${op.message}`,
          reasonOfError(op.code, 'filter'),
        );
      case 'unsub':
        return this.answerUnsubscribe(pending.request, pending.index, reason.success);
      case 'pub':
        return this.refusePublish(pending.ack, op.code, op.message);
      case 'connect':
        return;
    }
  }
}
