// MeshClient: the relaymesh client SDK for browsers and Node — connect, subscribe, publish, and stay
// connected: reconnect with backoff and jitter, follow redirects, resubscribe with `since`, and tell the app
// about `reset`. Browser-safe: no Node built-ins; Node passes its WebSocket implementation (see client/node.ts).
// WebSocket first; when it cannot open, HTTP streaming (docs/protocol.md §3); what worked is tried first next time.

import { backoffDelay } from '../shared/backoff.js';
import { closeCodes } from '../shared/errors.js';
import {
  clientPath,
  tunnelPathPrefix,
  type ClientOp,
  type JoinOp,
  type LeaveOp,
  type MsgOp,
  type PresenceAnswer,
  type Position,
  type RedirectOp,
  type ResetOp,
  type ServerOp,
  type SubokOp,
  type WelcomeOp,
} from '../shared/protocol.js';
import { matches } from '../shared/topics.js';
import { MeshError } from './mesh-error.js';
import { PendingRequests } from './pending-requests.js';
import { Subscription, type MeshMessage, type SubscribeOptions } from './subscription.js';
import { HttpStreamTransport } from './http-stream-transport.js';
import { locateEdges } from './locate.js';
import {
  transportKinds,
  TransportMemory,
  type Transport,
  type TransportHandlers,
  type TransportKind,
} from './transport.js';
import { WsTransport, type WebSocketFactory } from './ws-transport.js';
import { TunnelStream, type TunnelSocketFactory } from './tunnel-stream.js';

export type { MeshMessage, PresenceListener, SubscribeOptions } from './subscription.js';
export type { PresenceAnswer, PresenceMember } from '../shared/protocol.js';
export { Subscription } from './subscription.js';
export { MeshError, type MeshErrorCode } from './mesh-error.js';
export type { WebSocketFactory, WebSocketLike } from './ws-transport.js';
export type { TransportKind } from './transport.js';
export { TunnelError, TunnelStream } from './tunnel-stream.js';

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface MeshClientOptions {
  /** An edge: its base URL (ws://host:port) or its client URL (…/v1/ws). With `locate`, used only when locate fails. */
  url?: string;
  /**
   * Any node (or several) of the mesh: the client asks its /v1/locate for the nearest healthy edges and connects to
   * the best, trying the next when one fails, and locating again when all have. Layer-7 balancing: no proxy in the path.
   */
  locate?: string | readonly string[];
  /** The client's region for locate; default: what the locate node infers (a GeoIP header, else its own region). */
  region?: string;
  /** A token, or a function giving a fresh one for each connection. */
  token?: string | (() => string | Promise<string>);
  /** Default: globalThis.WebSocket. */
  WebSocket?: WebSocketFactory;
  /** Reconnect delays; false turns reconnecting off. Default base 250 ms, max 10 s. */
  reconnect?: { baseMs: number; maxMs: number } | false;
  /** How long a `pub` or `unsub` waits for its answer (including while reconnecting). Default 30 s. `sub` waits as long as it takes. */
  requestTimeoutMs?: number;
  /** The transports to use, in order of preference. Default: ['websocket', 'http-stream']. */
  transports?: TransportKind[];
}

type Listener<T> = (value: T) => void;
interface Events {
  state: ClientState;
  welcome: WelcomeOp;
  error: MeshError;
  transport: TransportKind;
}

// Close codes after which reconnecting unchanged cannot help (docs/protocol.md §2).
const finalCloseCodes: ReadonlySet<number> = new Set([
  closeCodes.protocolViolation,
  closeCodes.unauthorized,
  closeCodes.messageTooBig,
]);

/**
 * The client of one mesh. `Tunnel` is what openTunnel gives: a TunnelStream here (browsers), a Node Duplex in
 * NodeMeshClient.
 */
export class MeshClient<Tunnel = TunnelStream> {
  state: ClientState = 'idle';
  /** The last welcome: session id, edge and region. */
  welcome: WelcomeOp | undefined;
  /** What carries the current (or last) connection. */
  transport: TransportKind | undefined;
  private connection: Transport | undefined;
  private readonly transportMemory = new TransportMemory();
  private url: string;
  /** From the last locate: edges not tried yet, best first. */
  private candidates: string[] = [];
  /** The edge whose connection failed last, put last when locating again (the mesh may not have noticed yet). */
  private failedUrl: string | undefined;
  /** A `redirect` named the next edge: go there at once, without backoff, and instead of locating. */
  private followRedirect = false;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly requests = new PendingRequests();
  private readonly listeners: { [K in keyof Events]: Set<Listener<Events[K]>> } = {
    state: new Set(),
    welcome: new Set(),
    error: new Set(),
    transport: new Set(),
  };
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectWaiters: Array<{ resolve(welcome: WelcomeOp): void; reject(error: MeshError): void }> = [];

  constructor(private readonly options: MeshClientOptions) {
    if (options.url === undefined && options.locate === undefined)
      throw new MeshError('bad_request', 'pass url (an edge) or locate (any node)');
    this.url = options.url === undefined ? '' : clientUrl(options.url);
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
    const subscription = new Subscription(
      topic,
      options,
      (sub) => this.unsubscribe(sub),
      (error) => this.callbackFailed(error),
    );
    this.subscriptions.set(topic, subscription);
    try {
      await this.subscribeRequest(subscription);
    } catch (error) {
      if (this.subscriptions.get(topic) === subscription) this.subscriptions.delete(topic);
      subscription.end();
      throw error;
    }
    return subscription;
  }

  /** Publishes a JSON value; resolves with the message's position once the core has sequenced it. */
  async publish(topic: string, data: unknown): Promise<Position> {
    if (data instanceof Uint8Array)
      throw new MeshError('bad_request', 'this client speaks JSON: send binary data as base64 or an array');
    const reply = await this.request('pub', undefined, () => ({ op: 'pub', topic, data }));
    if (reply.op !== 'puback') throw unexpected(reply, 'puback');
    return { epoch: reply.epoch, offset: reply.offset };
  }

  /**
   * Who is present on `topic` (a topic, not a pattern) across the mesh: the exact `count` and up to 1,000 `members`
   * (session, user, edge). Needs the right to subscribe to the topic.
   */
  async presence(topic: string): Promise<PresenceAnswer> {
    const reply = await this.request('presence', undefined, () => ({ op: 'presence', topic }));
    if (reply.op !== 'presenceok') throw unexpected(reply, 'presenceok');
    return { count: reply.count, members: reply.members };
  }

  /**
   * A byte stream to `tunnel` (docs/protocol.md §8) through this client's edge (the one it uses now, else the best
   * located, else `url`), on a WebSocket of its own; resolves once the edge has accepted it. Not resumed: a stream
   * whose path is lost ends with an error, and the app opens a new one.
   */
  async openTunnel(tunnel: string): Promise<Tunnel> {
    const edge = (this.url || (await this.nextEdge())).slice(0, -clientPath.length);
    const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    return this.connectTunnel(`${edge}${tunnelPathPrefix}${encodeURIComponent(tunnel)}`, token);
  }

  /** Opens the tunnel WebSocket at `url` (the token, if any, goes in the query: browsers cannot set headers). */
  protected connectTunnel(url: string, token: string | undefined): Promise<Tunnel> {
    const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (!WebSocketImpl)
      return Promise.reject(new MeshError('internal', 'tunnels need a WebSocket: pass options.WebSocket'));
    const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
    // Tunnel is TunnelStream unless a subclass (NodeMeshClient) overrides this method.
    return TunnelStream.open(WebSocketImpl as unknown as TunnelSocketFactory, url + query) as Promise<Tunnel>;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearTimeout(this.retryTimer);
    this.failAll('closed', 'client closed');
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close(1000, 'client closed');
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

  /**
   * Subscribes on the current (or next) connection. The answer is taken as it arrives, so the app hears of it before
   * the replayed messages that follow it; the promise settles after.
   */
  private async subscribeRequest(subscription: Subscription): Promise<void> {
    // Built when sent, so a request resent after a reconnect asks from the newest position.
    const build = (): ClientOp => {
      const since = subscription.pattern ? undefined : subscription.position;
      return {
        op: 'sub',
        topic: subscription.topic,
        ...(since ? { since } : {}),
        ...(subscription.joinLeave ? { joinLeave: true } : {}),
      };
    };
    const reply = await this.request('sub', subscription.topic, build, (answer) => {
      if (answer.op === 'subok') this.subscribed(subscription, answer);
    });
    if (reply.op !== 'subok') throw unexpected(reply, 'subok');
  }

  private subscribed(subscription: Subscription, reply: SubokOp): void {
    const position =
      reply.epoch !== undefined && reply.offset !== undefined
        ? { epoch: reply.epoch, offset: reply.offset }
        : undefined;
    const askedSince = subscription.position !== undefined && position !== undefined;
    subscription.recovered = reply.recovered;
    if (position && !subscription.recovered) subscription.position = position;
    subscription.notify(() => subscription.options.onSubscribed?.({ position, recovered: subscription.recovered }));
    if (askedSince && !subscription.recovered) subscription.notify(() => subscription.options.onReset?.(position));
  }

  private request(
    op: ClientOp['op'],
    topic: string | undefined,
    build: () => ClientOp,
    onReply?: (reply: ServerOp) => void,
  ): Promise<ServerOp> {
    if (this.state === 'closed') return Promise.reject(new MeshError('closed', 'client closed'));
    if (this.state === 'idle') this.open();
    const timeoutMs = op === 'sub' ? undefined : (this.options.requestTimeoutMs ?? 30_000);
    return this.requests.add(
      op,
      topic,
      build,
      timeoutMs,
      this.state === 'connected' ? this.sender() : undefined,
      onReply,
    );
  }

  private sender(): (op: ClientOp) => void {
    return (op) => this.connection?.send(op);
  }

  /** The transports to try, in order: the one that worked last first. */
  private transportOrder(): TransportKind[] {
    const allowed = (this.options.transports ?? [...transportKinds]).filter((kind) => transportKinds.includes(kind));
    const remembered = this.transportMemory.get();
    return remembered && allowed.includes(remembered)
      ? [remembered, ...allowed.filter((kind) => kind !== remembered)]
      : allowed;
  }

  private open(): void {
    this.setState(this.attempt === 0 && !this.welcome ? 'connecting' : 'reconnecting');
    if (this.options.locate === undefined || this.followRedirect) {
      this.followRedirect = false;
      return this.openTransport(this.transportOrder(), false);
    }
    this.nextEdge().then(
      (url) => {
        if (this.state === 'closed') return;
        this.url = url;
        this.openTransport(this.transportOrder(), false);
      },
      (error: MeshError) => {
        if (this.state === 'closed') return;
        this.emit('error', error);
        this.retry();
      },
    );
  }

  /** The next edge to try: the next candidate of the last locate, or the best of a new one (or `url` if locate fails). */
  private async nextEdge(): Promise<string> {
    if (this.candidates.length === 0) {
      try {
        const located = await locateEdges(
          typeof this.options.locate === 'string' ? [this.options.locate] : this.options.locate!,
          this.options.region,
        );
        // The edge that just failed may still look healthy to the mesh (say, the path from here to it broke): try it last.
        this.candidates = [
          ...located.filter((url) => url !== this.failedUrl),
          ...located.filter((url) => url === this.failedUrl),
        ];
      } catch (error) {
        if (this.options.url === undefined) throw error;
        return clientUrl(this.options.url);
      }
    }
    return clientUrl(this.candidates.shift()!);
  }

  /** Opens the first of `kinds` that can be made here; one that fails before opening hands over to the next. */
  private openTransport(kinds: TransportKind[], triedAny: boolean): void {
    const [kind, ...rest] = kinds;
    if (kind === undefined) {
      if (triedAny) return this.retry();
      this.failAll(
        'internal',
        'no transport available: pass options.WebSocket, or allow http-stream where fetch exists',
      );
      return this.setState('closed');
    }
    const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (kind === 'websocket' ? !WebSocketImpl : typeof fetch !== 'function') return this.openTransport(rest, triedAny);
    let connection: Transport | undefined = undefined;
    const current = (): boolean => connection !== undefined && connection === this.connection;
    const handlers: TransportHandlers = {
      onOpen: () => {},
      onMessage: (op) => {
        if (current()) this.receive(connection!, op);
      },
      onClose: (code, reason, opened) => {
        if (!current()) return;
        if (opened || rest.length === 0 || this.state === 'closed') return this.lost(connection!, code, reason);
        this.connection = undefined;
        this.openTransport(rest, true);
      },
    };
    connection =
      kind === 'websocket'
        ? new WsTransport(WebSocketImpl!, this.url, handlers)
        : new HttpStreamTransport(this.url, handlers);
    this.connection = connection;
    connection.open(() => this.connectOp());
  }

  private async connectOp(): Promise<ClientOp> {
    try {
      const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
      return token === undefined ? { op: 'connect' } : { op: 'connect', token };
    } catch (error) {
      this.emit('error', new MeshError('unauthorized', `the token function failed: ${(error as Error).message}`));
      throw error;
    }
  }

  private receive(connection: Transport, op: ServerOp | undefined): void {
    if (!op) return this.emit('error', new MeshError('bad_request', 'the edge sent something that is not a server op'));
    switch (op.op) {
      case 'msg':
        return this.message(op);
      case 'welcome':
        return this.welcomed(connection, op);
      case 'reset':
        return this.reset(op);
      case 'redirect':
        return this.redirect(connection, op);
      case 'join':
      case 'leave':
        return this.presenceEvent(op);
      default:
        return this.answer(op);
    }
  }

  private welcomed(connection: Transport, welcome: WelcomeOp): void {
    this.transportMemory.set(connection.kind);
    if (this.transport !== connection.kind) {
      this.transport = connection.kind;
      this.emit('transport', connection.kind);
    }
    const reconnected = this.welcome !== undefined || this.attempt > 0;
    // Candidates serve one round of attempts: after a connection, the next loss locates afresh (the mesh moves on).
    this.candidates = [];
    this.failedUrl = undefined;
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
      this.subscribeRequest(subscription).catch((error: MeshError) => this.emit('error', error));
    }
  }

  private message(op: MsgOp): void {
    const { topic, epoch, offset } = op;
    let data = op.data;
    if (op.enc === 'base64') {
      try {
        data = fromBase64(String(op.data));
      } catch {
        return this.emit('error', new MeshError('bad_request', `a message on ${topic} has data that is not base64`));
      }
    }
    const message: MeshMessage = { topic, epoch, offset, data };
    for (const subscription of this.subscriptions.values()) {
      if (subscription.topic === topic) subscription.push(message, true);
      else if (subscription.pattern && matches(subscription.topic, topic)) subscription.push(message, false);
    }
  }

  private presenceEvent({ op, topic, session, user, edge }: JoinOp | LeaveOp): void {
    this.subscriptions.get(topic)?.presence(op, user === undefined ? { session, edge } : { session, user, edge });
  }

  private reset(op: ResetOp): void {
    const subscription = this.subscriptions.get(op.topic);
    if (!subscription) return;
    const position = { epoch: op.epoch, offset: op.offset };
    subscription.position = position;
    subscription.notify(() => subscription.options.onReset?.(position));
  }

  /** The edge is draining: move now to where it says, resuming every subscription with `since`. */
  private redirect(connection: Transport, op: RedirectOp): void {
    let url: URL;
    try {
      url = new URL(op.url);
      if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) throw new Error(url.protocol);
    } catch {
      return this.emit('error', new MeshError('bad_request', `ignored a redirect to ${op.url}`));
    }
    this.url = clientUrl(url.href);
    this.followRedirect = true;
    void connection.close(1000, 'redirected');
    this.lost(connection, 1000, 'redirected');
  }

  private answer(op: Exclude<ServerOp, MsgOp | WelcomeOp | ResetOp | RedirectOp | JoinOp | LeaveOp>): void {
    const error = op.op === 'error' ? new MeshError(op.code, op.message) : undefined;
    if (!this.requests.answer(op.id, op, error) && error) this.emit('error', error);
  }

  private lost(connection: Transport, code: number, reason: string): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    if (code !== 1000) this.failedUrl = this.url;
    this.requests.connectionLost(code);
    if (this.state === 'closed') return;
    if (this.options.reconnect === false || finalCloseCodes.has(code)) {
      const error = new MeshError(
        code === closeCodes.unauthorized ? 'unauthorized' : 'closed',
        `connection closed: ${code} ${reason}`,
      );
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
    const delay = this.followRedirect
      ? 0
      : backoffDelay(this.attempt, this.options.reconnect || { baseMs: 250, maxMs: 10_000 });
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

/** An answer of another kind than the request's: the edge broke the protocol. */
function unexpected(reply: ServerOp, expected: string): MeshError {
  return new MeshError('internal', `expected ${expected}, got ${reply.op}`);
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
