// STOMP 1.0–1.2 over /v1/ws (docs/protocol.md §2b) as a protocol adapter: frames become client ops for the shared
// session, and the session's replies and fan-out messages become CONNECTED, RECEIPT, MESSAGE and ERROR frames.

import { RelayError, closeCodeForError, closeCodes, type ErrorCode } from '../../shared/errors.js';
import type { ErrorOp, ResetOp, ServerOp, WelcomeOp } from '../../shared/protocol.js';
import { isPattern, matches } from '../../shared/topics.js';
import type { EncodedMessage } from '../encoded-message.js';
import { bodyToData } from '../payload-mapping.js';
import {
  opToSession,
  type AdapterContext,
  type ProtocolAdapter,
  type ProtocolAdapterFactory,
  type SessionPort,
} from '../protocol-adapter.js';
import { RequestTracker } from '../request-tracker.js';
import type { SessionTransport } from '../session-transport.js';
import { frameWsMessage } from '../ws-frame.js';
import { headerOf, serializeFrame, type StompFrame, type StompHeaders, type StompVersion } from './stomp-frame.js';
import { messageFrameParts, messageHead, messageId, topicPrefix } from './stomp-message.js';
import { negotiateHeartBeats, negotiateVersion, type HeartBeats } from './stomp-negotiation.js';
import { StompParser, type StompParseEvent } from './stomp-parser.js';

export const stompSubprotocols = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/** Room for a frame's command and headers once connected (a token or long ids fit; the body has its own limit). */
const maxHeaderBytes = 16 * 1024;
const maxHeaders = 64;
const eolFrame = frameWsMessage(Buffer.from('\n'), false);
/** A client that promised heart-beats is dropped after this many periods of silence (STOMP allows for timing error). */
const silentPeriods = 2;

interface StompSubscription {
  id: string;
  /** The relaymesh topic or pattern of its destination. */
  topic: string;
  pattern: boolean;
  /** The start of its MESSAGE frames, built once. */
  head: Buffer;
  /** A `reset` to announce with the next message (header `relaymesh-reset`). */
  reset: ResetOp | undefined;
}

type Pending =
  | { kind: 'connect' }
  | { kind: 'sub'; subscription: StompSubscription; receipt: string | undefined }
  | { kind: 'unsub'; receipt: string | undefined }
  | { kind: 'pub'; receipt: string | undefined };

type State = 'new' | 'connecting' | 'connected' | 'disconnecting' | 'closed';

export class StompAdapter implements ProtocolAdapter, SessionTransport {
  readonly transport: SessionTransport = this;
  private version: StompVersion = '1.0';
  private state: State = 'new';
  private readonly parser: StompParser;
  private readonly subscriptions = new Map<string, StompSubscription>();
  private readonly byTopic = new Map<string, StompSubscription>();
  private patterns: StompSubscription[] = [];
  private readonly requests = new RequestTracker<Pending>();
  private heartBeats: HeartBeats = { sendEveryMs: 0, expectEveryMs: 0 };
  private disconnectReceipt: string | undefined;
  private lastHeard = Date.now();
  private sendTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(private readonly context: AdapterContext) {
    // Before CONNECT a stranger gets no more room than the native protocol gives it.
    const room = context.limits.maxPreConnectMessageBytes;
    this.parser = new StompParser({ maxHeaderBytes: room, maxHeaders, maxBodyBytes: room });
  }

  // ── Client → session ───────────────────────────────────────────────────────

  receive(data: Buffer, _isBinary: boolean, session: SessionPort): void {
    if (this.state === 'closed') return;
    this.lastHeard = Date.now();
    this.parser.push(data, (event) => this.onEvent(event, session));
  }

  closed(): void {
    this.state = 'closed';
    this.parser.stop();
    this.stopTimers();
  }

  private onEvent(event: StompParseEvent, session: SessionPort): void {
    if (this.state === 'closed' || this.state === 'disconnecting') return;
    if (event.kind === 'error') return this.violation(event.message);
    if (event.kind === 'heartbeat') return;
    const frame = event.frame;
    try {
      this.onFrame(frame, session);
    } catch (error) {
      // Only RelayErrors are expected here (a body that contradicts its content type); anything else is a bug.
      if (!(error instanceof RelayError)) throw error;
      this.fail(error.code, error.message, headerOf(frame, 'receipt'));
    }
  }

  private onFrame(frame: StompFrame, session: SessionPort): void {
    const command = frame.command;
    if (command === 'CONNECT' || command === 'STOMP') return this.connect(frame, session);
    if (this.state === 'new') return this.violation('CONNECT must come first');
    switch (command) {
      case 'SEND':
        return this.send(frame, session);
      case 'SUBSCRIBE':
        return this.subscribe(frame, session);
      case 'UNSUBSCRIBE':
        return this.unsubscribe(frame, session);
      case 'DISCONNECT':
        return this.disconnect(frame);
      case 'ACK':
      case 'NACK':
        return this.fail(
          'bad_request',
          `${command} is not supported: subscriptions are ack:auto, nothing waits for an acknowledgement`,
          headerOf(frame, 'receipt'),
        );
      case 'BEGIN':
      case 'COMMIT':
      case 'ABORT':
        return this.transactionsRefused(frame);
      default:
        return this.violation(`unknown command ${command}`);
    }
  }

  private connect(frame: StompFrame, session: SessionPort): void {
    if (this.state !== 'new') return this.violation(`${frame.command} on a connected session`);
    const version = negotiateVersion(headerOf(frame, 'accept-version'));
    if (!version) return this.violation('supported STOMP versions are 1.0, 1.1 and 1.2', [['version', '1.0,1.1,1.2']]);
    const ours = { sendMs: this.context.limits.heartbeatMs, expectMs: this.context.limits.heartbeatMs };
    const heartBeats =
      version === '1.0'
        ? { sendEveryMs: 0, expectEveryMs: 0 }
        : negotiateHeartBeats(headerOf(frame, 'heart-beat'), ours);
    if (!heartBeats) return this.violation('malformed heart-beat header (expected "cx,cy")');
    this.version = version;
    this.parser.version = version;
    this.parser.limits.maxHeaderBytes = maxHeaderBytes;
    this.parser.limits.maxBodyBytes = this.context.limits.maxMessageBytes;
    this.heartBeats = heartBeats;
    this.state = 'connecting';
    const token =
      headerOf(frame, 'passcode') ??
      headerOf(frame, 'Authorization')?.replace(/^Bearer\s+/i, '') ??
      headerOf(frame, 'authorization')?.replace(/^Bearer\s+/i, '');
    const id = this.requests.add({ kind: 'connect' });
    opToSession(session, token ? { op: 'connect', id, token } : { op: 'connect', id });
  }

  private send(frame: StompFrame, session: SessionPort): void {
    const receipt = headerOf(frame, 'receipt');
    if (headerOf(frame, 'transaction') !== undefined) return this.transactionsRefused(frame);
    const topic = this.destinationTopic(frame);
    if (topic === undefined) return;
    const data = bodyToData(frame.body, headerOf(frame, 'content-type'), 'text-or-binary');
    const id = this.requests.add({ kind: 'pub', receipt });
    opToSession(session, { op: 'pub', id, topic, data });
  }

  private subscribe(frame: StompFrame, session: SessionPort): void {
    const receipt = headerOf(frame, 'receipt');
    const topic = this.destinationTopic(frame);
    if (topic === undefined) return;
    // STOMP 1.0 makes the id optional: such a subscription is named by its destination.
    const id = headerOf(frame, 'id') ?? (this.version === '1.0' ? headerOf(frame, 'destination')! : undefined);
    if (id === undefined) return this.fail('bad_request', 'SUBSCRIBE needs an id header', receipt);
    const ack = headerOf(frame, 'ack') ?? 'auto';
    if (ack !== 'auto')
      return this.fail(
        'bad_request',
        `ack:${ack} is not supported: messages are delivered ack:auto (each once, in order, resumable with relaymesh-since)`,
        receipt,
      );
    if (this.subscriptions.has(id)) return this.fail('bad_request', `subscription id ${id} is already in use`, receipt);
    if (this.byTopic.has(topic))
      return this.fail('bad_request', `already subscribed to ${topicPrefix}${topic}`, receipt);
    const sinceHeader = headerOf(frame, 'relaymesh-since');
    const since = sinceHeader === undefined ? undefined : /^(.{1,64}):(\d{1,15})$/.exec(sinceHeader);
    if (since === null)
      return this.fail(
        'bad_request',
        'relaymesh-since must be <epoch>:<offset>, the message-id of the last message received',
        receipt,
      );
    const subscription: StompSubscription = {
      id,
      topic,
      pattern: isPattern(topic),
      head: messageHead(id, this.version),
      reset: undefined,
    };
    this.subscriptions.set(id, subscription);
    this.byTopic.set(topic, subscription);
    if (subscription.pattern) this.patterns.push(subscription);
    const requestId = this.requests.add({ kind: 'sub', subscription, receipt });
    opToSession(
      session,
      since
        ? { op: 'sub', id: requestId, topic, since: { epoch: since[1]!, offset: Number(since[2]) } }
        : { op: 'sub', id: requestId, topic },
    );
  }

  private unsubscribe(frame: StompFrame, session: SessionPort): void {
    const receipt = headerOf(frame, 'receipt');
    const id = headerOf(frame, 'id') ?? (this.version === '1.0' ? headerOf(frame, 'destination') : undefined);
    const subscription = id === undefined ? undefined : this.subscriptions.get(id);
    if (!subscription)
      return this.fail(
        'not_subscribed',
        id === undefined ? 'UNSUBSCRIBE needs an id header' : `no subscription with id ${id}`,
        receipt,
      );
    this.forget(subscription);
    opToSession(session, { op: 'unsub', id: this.requests.add({ kind: 'unsub', receipt }), topic: subscription.topic });
  }

  /**
   * A graceful DISCONNECT: its receipt comes once every SEND before it has been sequenced (a refused SEND ends the
   * connection with ERROR instead).
   */
  private disconnect(frame: StompFrame): void {
    this.disconnectReceipt = headerOf(frame, 'receipt');
    this.state = 'disconnecting';
    this.finishDisconnect();
  }

  private finishDisconnect(): void {
    if (this.state !== 'disconnecting') return;
    for (const pending of this.requests.values()) if (pending.kind === 'pub') return;
    if (this.disconnectReceipt !== undefined) this.queue('RECEIPT', [['receipt-id', this.disconnectReceipt]]);
    this.end(closeCodes.normal, 'disconnected');
  }

  private transactionsRefused(frame: StompFrame): void {
    this.fail(
      'bad_request',
      'transactions are not supported: the core sequences each message on its own, so a group cannot be committed or aborted as one',
      headerOf(frame, 'receipt'),
    );
  }

  /** The relaymesh topic or pattern of a frame's destination; on a bad one the client has been answered. */
  private destinationTopic(frame: StompFrame): string | undefined {
    const destination = headerOf(frame, 'destination');
    if (destination === undefined)
      return void this.fail('bad_request', `${frame.command} needs a destination header`, headerOf(frame, 'receipt'));
    if (!destination.startsWith(topicPrefix))
      return void this.fail(
        'invalid_topic',
        `destinations are ${topicPrefix}<topic or pattern>; not ${destination}`,
        headerOf(frame, 'receipt'),
      );
    return destination.slice(topicPrefix.length);
  }

  private forget(subscription: StompSubscription): void {
    this.subscriptions.delete(subscription.id);
    if (this.byTopic.get(subscription.topic) === subscription) this.byTopic.delete(subscription.topic);
    if (subscription.pattern) this.patterns = this.patterns.filter((other) => other !== subscription);
  }

  // ── Session → client (SessionTransport) ────────────────────────────────────

  sendOp(op: ServerOp): void {
    if (this.state === 'closed') return;
    switch (op.op) {
      case 'welcome':
        return this.welcome(op);
      case 'subok': {
        const pending = this.requests.take(op.id);
        if (pending?.kind !== 'sub' || pending.receipt === undefined) return;
        const position: Array<[string, string]> =
          op.epoch === undefined ? [] : [['relaymesh-position', messageId(op.epoch, op.offset ?? 0)]];
        return this.queue('RECEIPT', [
          ['receipt-id', pending.receipt],
          ['relaymesh-recovered', String(op.recovered)],
          ...position,
        ]);
      }
      case 'unsubok':
      case 'puback': {
        const pending = this.requests.take(op.id);
        if ((pending?.kind === 'unsub' || pending?.kind === 'pub') && pending.receipt !== undefined)
          this.queue('RECEIPT', [['receipt-id', pending.receipt]]);
        return this.finishDisconnect();
      }
      case 'error':
        return this.sessionError(op);
      case 'reset': {
        const subscription = this.byTopic.get(op.topic);
        if (subscription) subscription.reset = op;
        return;
      }
      case 'redirect':
        return this.end(closeCodes.draining, 'edge draining', [['relaymesh-redirect', op.url]]);
      case 'pong':
      case 'msg':
        return;
    }
  }

  sendMessage(message: EncodedMessage): void {
    if (this.state === 'closed') return;
    const subscription =
      this.byTopic.get(message.topic) ?? this.patterns.find((pattern) => matches(pattern.topic, message.topic));
    if (!subscription) return;
    let head = subscription.head;
    if (subscription.reset) {
      // Continuity of this topic was lost: the client learns it with the next message, which follows on the new epoch.
      const { epoch, offset } = subscription.reset;
      subscription.reset = undefined;
      head = messageHead(subscription.id, this.version, [['relaymesh-reset', messageId(epoch, offset)]]);
    }
    const [framed, shared] = messageFrameParts(message, head, this.version);
    this.context.outbox.queueFrame(framed);
    this.context.outbox.queueFrame(shared);
  }

  /** The session or the edge ends the connection: an ERROR says why (unless it is a normal end), then the close. */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    if (code === closeCodes.normal) this.end(code, reason);
    else this.end(code, reason, [['relaymesh-close-code', String(code)]]);
  }

  private welcome(op: WelcomeOp): void {
    const pending = this.requests.take(op.id);
    if (pending?.kind !== 'connect' || this.state !== 'connecting') return;
    this.state = 'connected';
    const { limits } = this.context;
    this.queue('CONNECTED', [
      ['version', this.version],
      ['heart-beat', this.version === '1.0' ? '0,0' : `${limits.heartbeatMs},${limits.heartbeatMs}`],
      ['server', `relaymesh/${this.context.edgeId}`],
      ['session', op.session],
    ]);
    this.startHeartBeats();
  }

  private sessionError(op: ErrorOp): void {
    const pending = this.requests.take(op.id);
    if (pending?.kind === 'sub') {
      // A subscription the client already unsubscribed ends quietly: it asked for that.
      if (this.subscriptions.get(pending.subscription.id) !== pending.subscription) return;
      this.forget(pending.subscription);
    }
    const receipt = pending && pending.kind !== 'connect' ? pending.receipt : undefined;
    this.fail(op.code, op.message, receipt);
  }

  /** A refused request: ERROR (with the refused frame's receipt) and close, as STOMP servers do. */
  private fail(code: ErrorCode, message: string, receipt: string | undefined): void {
    const headers: Array<[string, string]> = [['relaymesh-code', code]];
    if (receipt !== undefined) headers.push(['receipt-id', receipt]);
    this.end(closeCodeForError(code), message, headers);
  }

  /** A broken frame or a frame out of place: counted, then ERROR and close (4400). */
  private violation(message: string, headers: StompHeaders = []): void {
    this.context.onProtocolError();
    this.end(closeCodes.protocolViolation, message, [['relaymesh-code', 'bad_request'], ...headers]);
  }

  private end(code: number, message: string, headers: StompHeaders = []): void {
    if (this.state === 'closed') return;
    if (code !== closeCodes.normal) {
      const body = Buffer.from(message);
      this.queue(
        'ERROR',
        [['message', message], ...headers, ['content-type', 'text/plain'], ['content-length', String(body.length)]],
        body,
      );
    }
    this.state = 'closed';
    this.parser.stop();
    this.stopTimers();
    this.context.outbox.close(code, message);
  }

  private queue(command: string, headers: StompHeaders, body?: Buffer): void {
    this.context.outbox.queueFrame(frameWsMessage(serializeFrame(command, headers, body, this.version), false));
  }

  // ── Heart-beats ────────────────────────────────────────────────────────────

  private startHeartBeats(): void {
    const { sendEveryMs, expectEveryMs } = this.heartBeats;
    if (sendEveryMs > 0) {
      this.sendTimer = setInterval(() => this.context.outbox.queueFrame(eolFrame), sendEveryMs);
      this.sendTimer.unref();
    }
    if (expectEveryMs > 0) {
      this.checkTimer = setInterval(() => {
        if (Date.now() - this.lastHeard > silentPeriods * expectEveryMs)
          this.end(closeCodes.goingAway, 'no heart-beat from the client');
      }, expectEveryMs);
      this.checkTimer.unref();
    }
  }

  private stopTimers(): void {
    clearInterval(this.sendTimer);
    clearInterval(this.checkTimer);
    this.sendTimer = undefined;
    this.checkTimer = undefined;
  }
}

export const stompAdapterFactory: ProtocolAdapterFactory = {
  protocol: 'stomp',
  create: (context: AdapterContext) => new StompAdapter(context),
};
