// MQTT 3.1.1 and 5 over /v1/ws (subprotocol `mqtt`, docs/protocol.md §2b) as a protocol adapter: packets become client
// ops for the shared session; its replies and fan-out messages become CONNACK, SUBACK, PUBACK and PUBLISH packets.

import type {
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubscribePacket,
  IUnsubscribePacket,
  Packet,
} from 'mqtt-packet';
import { RelayError, closeCodes } from '../../shared/errors.js';
import type { Position, ServerOp, WelcomeOp } from '../../shared/protocol.js';
import type { EncodedMessage } from '../encoded-message.js';
import { bodyToData } from '../payload-mapping.js';
import {
  opToSession,
  type AdapterContext,
  type ProtocolAdapter,
  type ProtocolAdapterFactory,
  type SessionPort,
} from '../protocol-adapter.js';
import type { SessionTransport } from '../session-transport.js';
import { frameWsMessage } from '../ws-frame.js';
import { MqttAnswers, type Puback, type SubscribeRequest } from './mqtt-answers.js';
import { MqttDecoder, encodePacket, type DecodeProblem, type MqttVersion } from './mqtt-codec.js';
import { connackProperties, connectTerms, type ConnectTerms, type Will } from './mqtt-connect.js';
import { MqttKeepAlive } from './mqtt-keep-alive.js';
import { publishBytes, publishFrames, sharedPublish } from './mqtt-publish.js';
import { reason, reasonOfClose, returnCode, subackFailure } from './mqtt-reasons.js';
import {
  mqttSessionsKey,
  type MqttConnection,
  type MqttSessions,
  type StoredSession,
  type StoredSubscription,
} from './mqtt-sessions.js';
import { MqttSubscriptions, type Subscription } from './mqtt-subscriptions.js';
import { filterFromMqtt, topicFromMqtt } from './mqtt-topics.js';

export const mqttSubprotocol = 'mqtt';

/** Room for a packet's fixed and variable header and MQTT 5 properties beyond the largest payload. */
const headerRoom = 16 * 1024;
/** Answers queued while the token is checked (the CONNACK goes first); a client that keeps sending meanwhile is abusive. */
const maxQueuedBeforeConnack = 64;
const pingresp = frameWsMessage(encodePacket({ cmd: 'pingresp' }, 4), true);

type State = 'new' | 'connecting' | 'connected' | 'closed';

export class MqttAdapter implements ProtocolAdapter, SessionTransport, MqttConnection {
  readonly transport: SessionTransport = this;
  private state: State = 'new';
  private version: MqttVersion = 4;
  private terms: ConnectTerms | undefined;
  private readonly decoder: MqttDecoder;
  private readonly sessions: MqttSessions;
  private session: SessionPort | undefined;
  private readonly subscriptions = new MqttSubscriptions();
  private readonly answers = new MqttAnswers(this.subscriptions, {
    version: () => this.version,
    send: (packet) => this.send(packet),
    end: (code, message, reasonCode) => this.end(code, message, reasonCode),
    liveSession: () => (this.state === 'connected' ? this.session : undefined),
  });
  /** Answers to packets that came before the CONNACK was sent: the CONNACK must be the first packet out. */
  private beforeConnack: Buffer[] | undefined = [];
  /** Armed once connected; cleared by a DISCONNECT (MQTT 5: unless it asks for the will). */
  private will: Will | undefined;
  /** Welcomed: from here on the connection has a session to keep and a will to publish. */
  private accepted = false;
  private saved = false;
  private readonly keepAlive = new MqttKeepAlive();

  constructor(private readonly context: AdapterContext) {
    this.decoder = new MqttDecoder(context.limits.maxPreConnectMessageBytes);
    this.sessions = context.edgeState(mqttSessionsKey);
  }

  // ── Client → session ───────────────────────────────────────────────────────

  receive(data: Buffer, _isBinary: boolean, session: SessionPort): void {
    if (this.state === 'closed') return;
    this.session = session;
    this.keepAlive.heard();
    const problem = this.decoder.push(data, (packet) => this.onPacket(packet, session));
    if (problem) this.malformed(problem);
  }

  closed(): void {
    if (this.state !== 'closed') this.state = 'closed';
    this.decoder.stop();
    this.keepAlive.stop();
    this.finish();
  }

  /** Another connection with this client id arrived: save the session for it, then end this one (will included). */
  takeOver(): void {
    this.save();
    this.end(closeCodes.normal, 'session taken over', reason.sessionTakenOver);
  }

  private onPacket(packet: Packet, session: SessionPort): void {
    if (this.state === 'closed') return;
    try {
      this.dispatch(packet, session);
    } catch (error) {
      // Only RelayErrors are expected here (a payload that contradicts its content type); anything else is a bug.
      if (!(error instanceof RelayError)) throw error;
      this.violation(error.message, reason.payloadFormatInvalid);
    }
  }

  private dispatch(packet: Packet, session: SessionPort): void {
    if (packet.cmd === 'connect') return this.connect(packet, session);
    if (this.state === 'new') return this.violation('CONNECT must come first');
    switch (packet.cmd) {
      case 'publish':
        return this.publish(packet, session);
      case 'puback':
        return this.subscriptions.acknowledged(packet.messageId ?? 0);
      case 'subscribe':
        return this.subscribe(packet, session);
      case 'unsubscribe':
        return this.unsubscribe(packet, session);
      case 'pingreq':
        return this.queue(pingresp);
      case 'disconnect':
        return this.disconnect(packet);
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        return this.violation('QoS 2 is not supported (maximum QoS 1)', reason.qosNotSupported);
      default:
        return this.violation(`a client does not send ${packet.cmd.toUpperCase()}`);
    }
  }

  private connect(packet: IConnectPacket, session: SessionPort): void {
    if (this.state !== 'new') return this.violation('a second CONNECT');
    const terms = connectTerms(packet);
    if (packet.protocolVersion === 5) this.version = 5;
    if ('returnCode' in terms) return this.refuseConnect(terms.returnCode, terms.reason, terms.message);
    this.terms = terms;
    this.state = 'connecting';
    this.decoder.maxPacketBytes = this.context.limits.maxMessageBytes + headerRoom;
    const id = this.answers.requests.add({ kind: 'connect', terms });
    opToSession(session, terms.token === undefined ? { op: 'connect', id } : { op: 'connect', id, token: terms.token });
  }

  private publish(packet: IPublishPacket, session: SessionPort): void {
    if (packet.qos === 2) {
      // Exactly once needs a two-phase handshake per message whose state the edge would have to keep durably.
      return this.violation('QoS 2 is not supported (maximum QoS 1)', reason.qosNotSupported);
    }
    if (packet.properties?.topicAlias !== undefined)
      return this.violation('topic aliases are not supported (Topic Alias Maximum 0)', reason.topicAliasInvalid);
    let ack: Puback | undefined;
    if (packet.qos === 1) ack = this.answers.expectPuback(packet.messageId ?? 0);
    const mapped = topicFromMqtt(packet.topic);
    if ('problem' in mapped) return this.answers.refusePublish(ack, 'invalid_topic', mapped.problem);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    let data: unknown;
    try {
      data = bodyToData(
        payload,
        this.version === 5 ? packet.properties?.contentType : undefined,
        'json-text-or-binary',
      );
    } catch (error) {
      if (!(error instanceof RelayError)) throw error;
      return this.answers.refusePublish(ack, error.code, error.message);
    }
    if (packet.properties?.payloadFormatIndicator && data instanceof Uint8Array)
      return this.answers.refusePublish(ack, 'bad_request', 'the payload is marked UTF-8 but is not');
    // A retained PUBLISH is published like any other: the newest message of a topic is its retained message.
    const id = this.answers.requests.add({ kind: 'pub', ack });
    opToSession(session, { op: 'pub', id, topic: mapped.topic, data });
  }

  private subscribe(packet: ISubscribePacket, session: SessionPort): void {
    if (packet.properties?.subscriptionIdentifier !== undefined)
      return this.violation('subscription identifiers are not supported', reason.subscriptionIdentifiersNotSupported);
    if (packet.subscriptions.length === 0) return this.violation('a SUBSCRIBE without topic filters');
    const request = this.answers.request(packet.messageId ?? 0, packet.subscriptions.length);
    for (const [index, wanted] of packet.subscriptions.entries()) {
      // QoS 2 is granted as 1: the client asked for at most that, and MQTT lets the server grant less.
      const qos: 0 | 1 = wanted.qos === 0 ? 0 : 1;
      const mapped = filterFromMqtt(wanted.topic);
      if ('problem' in mapped) {
        this.answers.answerFilter(
          request,
          index,
          this.version === 5
            ? mapped.shared
              ? reason.sharedSubscriptionsNotSupported
              : reason.topicFilterInvalid
            : subackFailure,
        );
        continue;
      }
      const existing = this.subscriptions.get(mapped.topic);
      if (existing) {
        // MQTT replaces a subscription to the same filter: the new QoS applies, the stream goes on as it was. So
        // does a topic held as a companion: the same stream, now for the client's filter too.
        this.subscriptions.claim(existing, wanted.topic, qos);
        this.answers.answerFilter(request, index, qos);
        continue;
      }
      // Reserved before the filter's own answer, which may come at once: the SUBACK waits for the companion too.
      if (mapped.parent !== undefined) this.answers.expectCompanion(request);
      const subscription = this.subscriptions.add(wanted.topic, mapped.topic, qos, undefined);
      // MQTT 5 retain handling 2: no retained messages; patterns have no single newest message to send.
      const retained = (wanted.rh ?? 0) !== 2;
      const id = this.answers.requests.add({
        kind: 'sub',
        request,
        index,
        subscription,
        retained: retained && !subscription.pattern,
      });
      opToSession(session, { op: 'sub', id, topic: mapped.topic });
      if (mapped.parent !== undefined)
        this.accompany(session, subscription, mapped.parent, request, retained, undefined);
    }
  }

  /**
   * MQTT's `a/#` matches `a` too: the filter's subscription gets a companion on the parent topic (after the filter's
   * own, whose refusal decides; a refused companion only leaves the parent out). A parent the client already holds
   * is shared, so each message comes once; the companion is invisible to the client (no SUBACK code of its own).
   */
  private accompany(
    session: SessionPort,
    of: Subscription,
    parent: string,
    request: SubscribeRequest | undefined,
    retained: boolean,
    since: Position | undefined,
  ): void {
    if (this.subscriptions.holds(of)) {
      const { companion, created } = this.subscriptions.accompany(of, parent, since);
      if (created) {
        const id = this.answers.requests.add({
          kind: 'sub',
          request,
          index: undefined,
          subscription: companion,
          retained: retained && !companion.pattern,
        });
        return opToSession(session, since ? { op: 'sub', id, topic: parent, since } : { op: 'sub', id, topic: parent });
      }
    }
    // No companion answer to wait for after all (the filter refused at once, or its parent already held).
    if (request) this.answers.answerFilter(request, undefined, 0);
  }

  private unsubscribe(packet: IUnsubscribePacket, session: SessionPort): void {
    if (packet.unsubscriptions.length === 0) return this.violation('an UNSUBSCRIBE without topic filters');
    const request = this.answers.request(packet.messageId ?? 0, packet.unsubscriptions.length);
    for (const [index, filter] of packet.unsubscriptions.entries()) {
      const mapped = filterFromMqtt(filter);
      const subscription = 'topic' in mapped ? this.subscriptions.get(mapped.topic) : undefined;
      // A topic held only as a companion is no filter of the client's.
      if (!subscription?.own) {
        this.answers.answerUnsubscribe(
          request,
          index,
          'topic' in mapped ? reason.noSubscriptionExisted : reason.topicFilterInvalid,
        );
        continue;
      }
      const companion = this.subscriptions.forget(subscription);
      if (companion !== undefined) this.answers.unsubscribeQuietly(companion);
      // Still a `/#` filter's companion: the stream stays, for that filter alone.
      if (this.subscriptions.holds(subscription)) {
        this.answers.answerUnsubscribe(request, index, reason.success);
        continue;
      }
      const id = this.answers.requests.add({ kind: 'unsub', request, index });
      opToSession(session, { op: 'unsub', id, topic: subscription.topic });
    }
  }

  private disconnect(packet: IDisconnectPacket): void {
    // A DISCONNECT is a graceful end: no will, unless an MQTT 5 client asks for it.
    if (packet.reasonCode !== reason.disconnectWithWill) this.will = undefined;
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined && this.terms && this.terms.sessionTtlMs > 0) this.terms.sessionTtlMs = expiry * 1000;
    this.end(closeCodes.normal, 'disconnected', undefined);
  }

  // ── Session → client (SessionTransport) ────────────────────────────────────

  sendOp(op: ServerOp): void {
    if (this.state === 'closed') return;
    switch (op.op) {
      case 'welcome':
        return this.welcome(op);
      case 'subok':
      case 'unsubok':
      case 'puback':
      case 'error':
        return this.answers.answer(op);
      case 'reset': {
        // MQTT has no way to say continuity was lost: the stream simply goes on from the new position.
        const subscription = this.subscriptions.get(op.topic);
        if (subscription) subscription.position = { epoch: op.epoch, offset: op.offset };
        return;
      }
      case 'redirect':
        return this.end(closeCodes.draining, 'edge draining', reason.useAnotherServer, op.url);
      case 'pong':
      case 'msg':
        return;
    }
  }

  sendMessage(message: EncodedMessage): void {
    if (this.state !== 'connected') return;
    const subscription = this.subscriptions.carrying(message.topic);
    // While the retained message is being fetched, the resubscription replays everything from it on.
    if (!subscription || subscription.phase === 'retained') return;
    const retain = !subscription.pattern && subscription.retainAt === message.offset;
    if (retain) subscription.retainAt = 0;
    if (!subscription.pattern) subscription.position = { epoch: message.epoch, offset: message.offset };
    let qos = this.subscriptions.grantedQos(subscription);
    if (qos === 1 && this.subscriptions.inflightCount >= (this.terms?.receiveMaximum ?? 0)) qos = 0;
    const shared = sharedPublish(message, this.version, qos);
    // A topic MQTT cannot name, or an empty retained message (MQTT's "no retained message"), is not sent.
    if (!shared || (retain && shared.payloadBytes === 0)) return;
    if (publishBytes(shared) > (this.terms?.maxPacketBytes ?? Infinity)) return;
    const packetId = qos === 1 ? this.subscriptions.sent(subscription, message.epoch, message.offset) : undefined;
    for (const frame of publishFrames(shared, packetId, retain)) this.context.outbox.queueFrame(frame);
  }

  /** The session or the edge ends the connection: CONNACK or DISCONNECT (MQTT 5) says why, then the close. */
  close(code: number, why: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'connecting') {
      if (code === closeCodes.unauthorized)
        return this.refuseConnect(returnCode.badUserNameOrPassword, reason.badUserNameOrPassword, why, code);
      return this.refuseConnect(returnCode.serverUnavailable, reason.serverUnavailable, why, code);
    }
    this.end(code, why, code === closeCodes.normal ? undefined : reasonOfClose(code));
  }

  private welcome(op: WelcomeOp): void {
    const pending = this.answers.requests.take(op.id);
    if (pending?.kind !== 'connect' || this.state !== 'connecting') return;
    const terms = pending.terms;
    this.state = 'connected';
    const waiting = this.beforeConnack ?? [];
    // Only an authenticated client may take over a client id, so a stranger cannot end someone else's session.
    this.sessions.claim(terms.clientId, this);
    // A clean session discards what was stored; otherwise it resumes.
    const taken = this.sessions.take(terms.clientId);
    const stored = terms.clean ? undefined : taken;
    this.accepted = true;
    this.will = terms.will;
    this.beforeConnack = undefined;
    this.send({
      cmd: 'connack',
      sessionPresent: stored !== undefined,
      returnCode: returnCode.accepted,
      reasonCode: reason.success,
      ...(this.version === 5 ? { properties: connackProperties(terms, this.decoder.maxPacketBytes) } : {}),
    });
    for (const frame of waiting) this.queue(frame);
    this.keepAlive.start(terms.keepAliveMs, () =>
      this.end(closeCodes.goingAway, 'keep-alive timeout', reason.keepAliveTimeout),
    );
    if (stored) this.restore(stored);
  }

  /**
   * A persistent session resumes: each filter again, exact topics from their positions (replaying the gap), then
   * each `/#` filter's companion, from the position it had (a parent held as a filter too is shared as before).
   */
  private restore(stored: StoredSession): void {
    const session = this.session;
    if (!session) return;
    const companions = new Map<string, StoredSubscription>();
    const restored: Subscription[] = [];
    for (const saved of stored.subscriptions) {
      if (saved.companion) companions.set(saved.topic, saved);
      else if (!this.subscriptions.get(saved.topic)) restored.push(this.resubscribe(session, saved));
    }
    for (const subscription of restored) {
      const mapped = filterFromMqtt(subscription.filter);
      if ('parent' in mapped && mapped.parent !== undefined)
        this.accompany(session, subscription, mapped.parent, undefined, false, companions.get(mapped.parent)?.position);
    }
  }

  private resubscribe(session: SessionPort, saved: StoredSubscription): Subscription {
    const subscription = this.subscriptions.add(saved.filter, saved.topic, saved.qos, saved.position);
    const id = this.answers.requests.add({ kind: 'sub', request: undefined, index: 0, subscription, retained: false });
    opToSession(
      session,
      saved.position
        ? { op: 'sub', id, topic: saved.topic, since: saved.position }
        : { op: 'sub', id, topic: saved.topic },
    );
    return subscription;
  }

  private refuseConnect(v3: number, v5: number, message: string, code: number = closeCodes.protocolViolation): void {
    this.beforeConnack = undefined;
    this.send(
      this.version === 5
        ? { cmd: 'connack', sessionPresent: false, reasonCode: v5, properties: { reasonString: message } }
        : { cmd: 'connack', sessionPresent: false, returnCode: v3 },
    );
    if (code === closeCodes.protocolViolation) this.context.onProtocolError();
    this.end(code, message, undefined);
  }

  /** A packet that breaks the protocol, or a feature refused by closing: counted, then DISCONNECT (MQTT 5) and close. */
  private violation(message: string, code: number = reason.protocolError): void {
    this.context.onProtocolError();
    this.end(closeCodes.protocolViolation, message, code);
  }

  private malformed(problem: DecodeProblem): void {
    if (problem.kind === 'too_large') {
      this.context.onProtocolError();
      return this.end(closeCodes.messageTooBig, problem.message, reason.packetTooLarge);
    }
    this.violation(problem.message, reason.malformedPacket);
  }

  /** Ends the connection: a DISCONNECT with `reasonCode` first for a connected MQTT 5 client, then the close. */
  private end(code: number, message: string, reasonCode: number | undefined, serverReference?: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected' && reasonCode !== undefined) {
      this.send({
        cmd: 'disconnect',
        reasonCode,
        properties: { reasonString: message.slice(0, 200), ...(serverReference ? { serverReference } : {}) },
      });
    }
    this.state = 'closed';
    this.decoder.stop();
    this.keepAlive.stop();
    // Now rather than when the socket is gone: a dead peer's close handshake may take long to time out.
    this.publishWill();
    this.context.outbox.close(code, message);
  }

  /** The will goes out once, when the connection ends other than by a DISCONNECT that dropped it. */
  private publishWill(): void {
    const will = this.will;
    this.will = undefined;
    if (will && this.session) opToSession(this.session, { op: 'pub', topic: will.topic, data: will.data });
  }

  /** The connection is over: the will (if still armed), the session kept (if persistent), the client id released. */
  private finish(): void {
    const terms = this.terms;
    if (!terms) return;
    this.publishWill();
    this.save();
    this.sessions.release(terms.clientId, this);
  }

  /** Keeps the session for the next connection with this client id, once. */
  private save(): void {
    const terms = this.terms;
    if (!terms || !this.accepted || this.saved) return;
    this.saved = true;
    if (terms.sessionTtlMs <= 0) return;
    const subscriptions = this.subscriptions.snapshot();
    this.sessions.save(terms.clientId, { subscriptions }, terms.sessionTtlMs);
  }

  // ── Helpers ────────────────────────────────────────────────────────────────

  private send(packet: Packet): void {
    this.queue(frameWsMessage(encodePacket(packet, this.version), true));
  }

  private queue(frame: Buffer): void {
    if (!this.beforeConnack) return this.context.outbox.queueFrame(frame);
    if (this.beforeConnack.length >= maxQueuedBeforeConnack) {
      this.context.onProtocolError();
      return this.end(closeCodes.protocolViolation, 'too many packets before CONNACK', undefined);
    }
    this.beforeConnack.push(frame);
  }
}

export const mqttAdapterFactory: ProtocolAdapterFactory = {
  protocol: 'mqtt',
  create: (context: AdapterContext) => new MqttAdapter(context),
};
