// MeshClient: the relaymesh client SDK for browsers and Node — connect, subscribe, publish, and stay
// connected: reconnect with backoff and jitter, resubscribe with `since`, and tell the app about `reset`.
// Browser-safe: no Node built-ins; Node passes its WebSocket implementation (see client/node.ts).

import { backoffDelay } from '../shared/backoff.js';
import { closeCodes, isErrorCode, type ErrorCode } from '../shared/errors.js';
import { clientPath, subprotocols, type Position, type WelcomeOp } from '../shared/protocol.js';
import { isPattern, matches } from '../shared/topics.js';
import { Subscription, type MeshMessage, type SubscribeOptions } from './subscription.js';

export type { MeshMessage, SubscribeOptions } from './subscription.js';
export { Subscription } from './subscription.js';

/** The part of the WebSocket API the client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = new (url: string, protocols: string[]) => WebSocketLike;

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface MeshClientOptions {
  /** An edge: its base URL (ws://host:port) or its client URL (…/v1/ws). */
  url: string;
  /** A token, or a function giving a fresh one for each connection. */
  token?: string | (() => string | Promise<string>);
  /** Default: globalThis.WebSocket. */
  WebSocket?: WebSocketFactory;
  /** Reconnect delays; false turns reconnecting off. Default base 250 ms, max 10 s. */
  reconnect?: { baseMs: number; maxMs: number } | false;
  /** How long a request waits for its answer (including while reconnecting). Default 30 s. */
  requestTimeoutMs?: number;
}

export class MeshError extends Error {
  constructor(readonly code: ErrorCode | 'closed' | 'timeout', message: string) {
    super(message);
    this.name = 'MeshError';
  }
}

type Listener<T> = (value: T) => void;
interface Events {
  state: ClientState;
  welcome: WelcomeOp;
  error: MeshError;
}

interface PendingRequest {
  resolve(reply: Record<string, unknown>): void;
  reject(error: MeshError): void;
  /** Sent on the current socket (a lost socket leaves its answer unknown). */
  sent: boolean;
  frame: Record<string, unknown>;
  timer: ReturnType<typeof setTimeout>;
}

const openState = 1;
// Close codes after which reconnecting unchanged cannot help (PROTOCOL.md §2).
const finalCloseCodes: ReadonlySet<number> = new Set([closeCodes.protocolViolation, closeCodes.unauthorized, closeCodes.messageTooBig]);

export class MeshClient {
  state: ClientState = 'idle';
  /** The last welcome: session id, edge and region. */
  welcome: WelcomeOp | undefined;
  private socket: WebSocketLike | undefined;
  private url: string;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly listeners: { [K in keyof Events]: Set<Listener<Events[K]>> } = { state: new Set(), welcome: new Set(), error: new Set() };
  private nextId = 1;
  private attempt = 0;
  /** The last connection ended by a `redirect`: reconnect at once, without backoff. */
  private redirected = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectWaiters: Array<{ resolve(welcome: WelcomeOp): void; reject(error: MeshError): void }> = [];

  constructor(private readonly options: MeshClientOptions) {
    this.url = clientUrl(options.url);
  }

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Connects (once); resolves with the edge's welcome. */
  connect(): Promise<WelcomeOp> {
    if (this.state === 'connected' && this.welcome) return Promise.resolve(this.welcome);
    if (this.state === 'closed') return Promise.reject(new MeshError('closed', 'client closed'));
    const promise = new Promise<WelcomeOp>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (this.state === 'idle') this.open();
    return promise;
  }

  /** Subscribes to a topic or pattern; resolves once the edge answered. Messages go to `onMessage` and the async iterator. */
  async subscribe(topic: string, options: SubscribeOptions = {}): Promise<Subscription> {
    if (this.subscriptions.has(topic)) throw new MeshError('bad_request', `already subscribed to ${topic}`);
    const subscription = new Subscription(topic, options, (sub) => this.unsubscribe(sub));
    this.subscriptions.set(topic, subscription);
    try {
      await this.connect();
      const reply = await this.request(this.subFrame(subscription));
      this.subscribed(subscription, reply);
    } catch (error) {
      if (this.subscriptions.get(topic) === subscription) this.subscriptions.delete(topic);
      subscription.end();
      throw error;
    }
    return subscription;
  }

  /** Publishes a JSON value; resolves with the message's position once the core has sequenced it. */
  async publish(topic: string, data: unknown): Promise<Position> {
    if (data instanceof Uint8Array) throw new MeshError('bad_request', 'this client speaks JSON: send binary data as base64 or an array');
    const reply = await this.request({ op: 'pub', topic, data });
    return { epoch: reply.epoch as string, offset: reply.offset as number };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearTimeout(this.retryTimer);
    this.failAll(new MeshError('closed', 'client closed'));
    for (const subscription of this.subscriptions.values()) subscription.end();
    this.subscriptions.clear();
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.readyState > openState) return;
    await new Promise<void>((resolve) => {
      socket.onclose = () => resolve();
      socket.close(1000, 'client closed');
    });
  }

  private async unsubscribe(subscription: Subscription): Promise<void> {
    if (this.subscriptions.get(subscription.topic) !== subscription) return;
    this.subscriptions.delete(subscription.topic);
    subscription.end();
    if (this.state === 'connected') await this.request({ op: 'unsub', topic: subscription.topic });
  }

  private subFrame(subscription: Subscription): Record<string, unknown> {
    const since = isPattern(subscription.topic) ? undefined : subscription.position;
    return since ? { op: 'sub', topic: subscription.topic, since } : { op: 'sub', topic: subscription.topic };
  }

  private subscribed(subscription: Subscription, reply: Record<string, unknown>): void {
    const position = typeof reply.epoch === 'string' ? { epoch: reply.epoch, offset: reply.offset as number } : undefined;
    const askedSince = subscription.position !== undefined && position !== undefined;
    subscription.recovered = reply.recovered === true;
    if (position && !subscription.recovered) subscription.position = position;
    subscription.options.onSubscribed?.({ position, recovered: subscription.recovered });
    if (askedSince && !subscription.recovered) subscription.options.onReset?.(position);
  }

  private open(): void {
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (!WebSocketImpl) throw new MeshError('internal', 'no WebSocket implementation: pass options.WebSocket');
    const socket = new WebSocketImpl(this.url, [subprotocols.json]);
    this.socket = socket;
    socket.onopen = () => void this.handshake(socket);
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onerror = () => {};
    socket.onclose = (event) => this.lost(socket, event.code, event.reason);
  }

  private async handshake(socket: WebSocketLike): Promise<void> {
    const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    if (socket !== this.socket) return;
    socket.send(JSON.stringify(token === undefined ? { op: 'connect' } : { op: 'connect', token }));
  }

  private receive(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.socket) return;
    let op: Record<string, unknown>;
    try {
      op = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer)) as Record<string, unknown>;
    } catch {
      return;
    }
    switch (op.op) {
      case 'msg': return this.message(op);
      case 'welcome': return this.welcomed(op as unknown as WelcomeOp);
      case 'reset': return this.reset(op);
      case 'redirect':
        // The edge is draining: move now to where it says, resuming every subscription with `since`.
        if (typeof op.url !== 'string') return;
        this.url = clientUrl(op.url);
        this.redirected = true;
        socket.close(1000, 'redirected');
        return;
      default: return this.answer(op);
    }
  }

  private welcomed(welcome: WelcomeOp): void {
    const reconnected = this.attempt > 0 || this.welcome !== undefined;
    this.welcome = welcome;
    this.attempt = 0;
    this.setState('connected');
    this.emit('welcome', welcome);
    for (const waiter of this.connectWaiters.splice(0)) waiter.resolve(welcome);
    if (reconnected) this.resubscribe();
    for (const [id, request] of this.pending) {
      if (!request.sent) this.transmit(id, request);
    }
  }

  /** After a reconnect: every subscription again, from its position, so the edge replays the gap. */
  private resubscribe(): void {
    const asking = new Set<unknown>();
    for (const request of this.pending.values()) if (request.frame.op === 'sub') asking.add(request.frame.topic);
    for (const subscription of this.subscriptions.values()) {
      if (asking.has(subscription.topic)) continue;
      this.request(this.subFrame(subscription)).then(
        (reply) => this.subscribed(subscription, reply),
        (error: MeshError) => this.emit('error', error),
      );
    }
  }

  private message(op: Record<string, unknown>): void {
    const topic = op.topic as string;
    const message: MeshMessage = { topic, epoch: op.epoch as string, offset: op.offset as number, data: op.enc === 'base64' ? fromBase64(op.data as string) : op.data };
    const exact = this.subscriptions.get(topic);
    if (exact) exact.push(message, true);
    for (const subscription of this.subscriptions.values()) {
      if (subscription !== exact && isPattern(subscription.topic) && matches(subscription.topic, topic)) subscription.push(message, false);
    }
  }

  private reset(op: Record<string, unknown>): void {
    const subscription = this.subscriptions.get(op.topic as string);
    if (!subscription) return;
    const position = { epoch: op.epoch as string, offset: op.offset as number };
    subscription.position = position;
    subscription.options.onReset?.(position);
  }

  private answer(op: Record<string, unknown>): void {
    const id = op.id as number;
    const request = this.pending.get(id);
    if (op.op === 'error' && !request) {
      this.emit('error', new MeshError(isErrorCode(op.code) ? op.code : 'internal', String(op.message)));
      return;
    }
    if (!request) return;
    this.pending.delete(id);
    clearTimeout(request.timer);
    if (op.op === 'error') request.reject(new MeshError(isErrorCode(op.code) ? op.code : 'internal', String(op.message)));
    else request.resolve(op);
  }

  private request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.state === 'closed') return Promise.reject(new MeshError('closed', 'client closed'));
    if (this.state === 'idle') this.open();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MeshError('timeout', `no answer to ${String(frame.op)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const request: PendingRequest = { resolve, reject, sent: false, frame, timer };
      this.pending.set(id, request);
      if (this.state === 'connected') this.transmit(id, request);
    });
  }

  private transmit(id: number, request: PendingRequest): void {
    request.sent = true;
    this.socket?.send(JSON.stringify({ ...request.frame, id }));
  }

  private lost(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    // Requests already sent have unknown outcomes (a `pub` may have been sequenced): fail them; unsent ones wait.
    for (const [id, request] of this.pending) {
      if (request.sent && request.frame.op !== 'sub') {
        this.pending.delete(id);
        clearTimeout(request.timer);
        request.reject(new MeshError('unavailable', `connection lost before the answer (${code})`));
      } else request.sent = false;
    }
    if (this.state === 'closed') return;
    if (this.options.reconnect === false || finalCloseCodes.has(code)) {
      const error = new MeshError(code === closeCodes.unauthorized ? 'unauthorized' : 'closed', `connection closed: ${code} ${reason}`);
      this.emit('error', error);
      for (const waiter of this.connectWaiters.splice(0)) waiter.reject(error);
      this.failAll(error);
      this.setState('closed');
      return;
    }
    this.attempt++;
    this.setState('reconnecting');
    const delay = this.redirected ? 0 : backoffDelay(this.attempt, this.options.reconnect ?? { baseMs: 250, maxMs: 10_000 });
    this.redirected = false;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private failAll(error: MeshError): void {
    for (const request of this.pending.values()) {
      clearTimeout(request.timer);
      request.reject(error);
    }
    this.pending.clear();
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(error);
  }

  private setState(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const listener of this.listeners[event]) listener(value);
  }
}

function clientUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '').replace(/^http/, 'ws');
  return trimmed.endsWith(clientPath) ? trimmed : trimmed + clientPath;
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
