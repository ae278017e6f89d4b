// MeshClient: the relaymesh client SDK for browsers and Node — connect, subscribe, publish, and stay
// connected: reconnect with backoff and jitter, follow redirects, resubscribe with `since`, and tell the app
// about `reset`. Browser-safe: no Node built-ins; Node passes its WebSocket implementation (see client/node.ts).

import { backoffDelay } from '../shared/backoff.js';
import { closeCodes, isErrorCode } from '../shared/errors.js';
import { clientPath, subprotocols, type Position, type WelcomeOp } from '../shared/protocol.js';
import { isPattern, matches } from '../shared/topics.js';
import { MeshError } from './mesh-error.js';
import { PendingRequests, type Frame } from './pending-requests.js';
import { Subscription, type MeshMessage, type SubscribeOptions } from './subscription.js';

export type { MeshMessage, SubscribeOptions } from './subscription.js';
export { Subscription } from './subscription.js';
export { MeshError, type MeshErrorCode } from './mesh-error.js';

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
  /** How long a `pub` or `unsub` waits for its answer (including while reconnecting). Default 30 s. `sub` waits as long as it takes. */
  requestTimeoutMs?: number;
}

type Listener<T> = (value: T) => void;
interface Events {
  state: ClientState;
  welcome: WelcomeOp;
  error: MeshError;
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
  private readonly requests = new PendingRequests();
  private readonly listeners: { [K in keyof Events]: Set<Listener<Events[K]>> } = { state: new Set(), welcome: new Set(), error: new Set() };
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
    const subscription = new Subscription(topic, options, (sub) => this.unsubscribe(sub), (error) => this.callbackFailed(error));
    this.subscriptions.set(topic, subscription);
    try {
      this.subscribed(subscription, await this.subscribeRequest(subscription));
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
    const reply = await this.request('pub', undefined, () => ({ op: 'pub', topic, data }));
    return { epoch: reply.epoch as string, offset: reply.offset as number };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearTimeout(this.retryTimer);
    this.failAll('closed', 'client closed');
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
    this.requests.cancelSubscribe(subscription.topic);
    if (this.state !== 'connected') return;
    try {
      await this.request('unsub', subscription.topic, () => ({ op: 'unsub', topic: subscription.topic }));
    } catch (error) {
      // Closed or disconnected meanwhile: the subscription is gone either way (a new connection does not renew it).
      if (!(error instanceof MeshError && (error.code === 'closed' || error.code === 'unavailable'))) throw error;
    }
  }

  private subscribeRequest(subscription: Subscription): Promise<Frame> {
    // Built when sent, so a request resent after a reconnect asks from the newest position.
    return this.request('sub', subscription.topic, () => {
      const since = isPattern(subscription.topic) ? undefined : subscription.position;
      return since ? { op: 'sub', topic: subscription.topic, since } : { op: 'sub', topic: subscription.topic };
    });
  }

  private subscribed(subscription: Subscription, reply: Frame): void {
    const position = typeof reply.epoch === 'string' ? { epoch: reply.epoch, offset: reply.offset as number } : undefined;
    const askedSince = subscription.position !== undefined && position !== undefined;
    subscription.recovered = reply.recovered === true;
    if (position && !subscription.recovered) subscription.position = position;
    subscription.notify(() => subscription.options.onSubscribed?.({ position, recovered: subscription.recovered }));
    if (askedSince && !subscription.recovered) subscription.notify(() => subscription.options.onReset?.(position));
  }

  private request(op: string, topic: string | undefined, build: () => Frame): Promise<Frame> {
    if (this.state === 'closed') return Promise.reject(new MeshError('closed', 'client closed'));
    if (this.state === 'idle') this.open();
    const timeoutMs = op === 'sub' ? undefined : this.options.requestTimeoutMs ?? 30_000;
    return this.requests.add(op, topic, build, timeoutMs, this.state === 'connected' ? this.sender() : undefined);
  }

  private sender(): (frame: Frame) => void {
    return (frame) => this.socket?.send(JSON.stringify(frame));
  }

  private open(): void {
    this.setState(this.attempt === 0 && !this.welcome ? 'connecting' : 'reconnecting');
    const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (!WebSocketImpl) {
      this.failAll('internal', 'no WebSocket implementation: pass options.WebSocket');
      this.setState('closed');
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = new WebSocketImpl(this.url, [subprotocols.json]);
    } catch (error) {
      this.emit('error', new MeshError('internal', `cannot open ${this.url}: ${(error as Error).message}`));
      this.retry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => void this.handshake(socket);
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onerror = () => {};
    socket.onclose = (event) => this.lost(socket, event.code, event.reason);
  }

  private async handshake(socket: WebSocketLike): Promise<void> {
    let token: string | undefined;
    try {
      token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    } catch (error) {
      this.emit('error', new MeshError('unauthorized', `the token function failed: ${(error as Error).message}`));
      socket.close(1000, 'no token');
      return;
    }
    if (socket !== this.socket) return;
    socket.send(JSON.stringify(token === undefined ? { op: 'connect' } : { op: 'connect', token }));
  }

  private receive(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.socket) return;
    let op: unknown;
    try {
      op = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer));
    } catch {
      op = undefined;
    }
    if (typeof op !== 'object' || op === null) return this.emit('error', new MeshError('bad_request', 'the edge sent something that is not a JSON object'));
    const frame = op as Frame;
    switch (frame.op) {
      case 'msg': return this.message(frame);
      case 'welcome': return this.welcomed(frame as unknown as WelcomeOp);
      case 'reset': return this.reset(frame);
      case 'redirect': return this.redirect(socket, frame);
      default: return this.answer(frame);
    }
  }

  private welcomed(welcome: WelcomeOp): void {
    const reconnected = this.welcome !== undefined || this.attempt > 0;
    this.welcome = welcome;
    this.attempt = 0;
    this.setState('connected');
    this.emit('welcome', welcome);
    for (const waiter of this.connectWaiters.splice(0)) waiter.resolve(welcome);
    if (reconnected) this.resubscribe();
    this.requests.sendUnsent(this.sender());
  }

  /** After a reconnect: every subscription again, from its position, so the edge replays the gap. */
  private resubscribe(): void {
    for (const subscription of this.subscriptions.values()) {
      if (this.requests.subscribing(subscription.topic)) continue;
      this.subscribeRequest(subscription).then(
        (reply) => this.subscribed(subscription, reply),
        (error: MeshError) => this.emit('error', error),
      );
    }
  }

  private message(op: Frame): void {
    const topic = op.topic as string;
    let data = op.data;
    if (op.enc === 'base64') {
      try {
        data = fromBase64(op.data as string);
      } catch {
        return this.emit('error', new MeshError('bad_request', `a message on ${topic} has data that is not base64`));
      }
    }
    const message: MeshMessage = { topic, epoch: op.epoch as string, offset: op.offset as number, data };
    for (const subscription of this.subscriptions.values()) {
      if (subscription.topic === topic) subscription.push(message, true);
      else if (isPattern(subscription.topic) && matches(subscription.topic, topic)) subscription.push(message, false);
    }
  }

  private reset(op: Frame): void {
    const subscription = this.subscriptions.get(op.topic as string);
    if (!subscription) return;
    const position = { epoch: op.epoch as string, offset: op.offset as number };
    subscription.position = position;
    subscription.notify(() => subscription.options.onReset?.(position));
  }

  /** The edge is draining: move now to where it says, resuming every subscription with `since`. */
  private redirect(socket: WebSocketLike, op: Frame): void {
    let url: URL;
    try {
      url = new URL(String(op.url));
      if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) throw new Error(url.protocol);
    } catch {
      return this.emit('error', new MeshError('bad_request', `ignored a redirect to ${String(op.url)}`));
    }
    this.url = clientUrl(url.href);
    this.redirected = true;
    socket.close(1000, 'redirected');
  }

  private answer(op: Frame): void {
    const error = op.op === 'error' ? new MeshError(isErrorCode(op.code) ? op.code : 'internal', String(op.message)) : undefined;
    if (!this.requests.answer(op.id, op, error) && error) this.emit('error', error);
  }

  private lost(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.requests.connectionLost(code);
    if (this.state === 'closed') return;
    if (this.options.reconnect === false || finalCloseCodes.has(code)) {
      const error = new MeshError(code === closeCodes.unauthorized ? 'unauthorized' : 'closed', `connection closed: ${code} ${reason}`);
      this.emit('error', error);
      this.failAll(error.code, error.message);
      this.setState('closed');
      return;
    }
    this.retry();
  }

  private retry(): void {
    this.attempt++;
    this.setState('reconnecting');
    const delay = this.redirected ? 0 : backoffDelay(this.attempt, this.options.reconnect || { baseMs: 250, maxMs: 10_000 });
    this.redirected = false;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** Ends everything: requests fail, subscriptions end (so iterators finish). */
  private failAll(code: MeshError['code'], message: string): void {
    this.requests.failAll(code, message);
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(new MeshError(code, message));
    for (const subscription of this.subscriptions.values()) subscription.end();
    this.subscriptions.clear();
  }

  private setState(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(value);
      } catch (error) {
        if (event !== 'error') this.callbackFailed(error);
      }
    }
  }

  /** An application callback threw: reported as an `error` event, never thrown into the socket's handlers. */
  private callbackFailed(error: unknown): void {
    this.emit('error', new MeshError('internal', `a callback threw: ${(error as Error)?.message ?? String(error)}`));
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
