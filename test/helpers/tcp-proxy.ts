// Userspace TCP fault proxy for tests and the chaos script: sits between an edge and a core and
// adds latency, throttling, cuts, black holes and refusals while counting bytes (there is no netem here).
import net from 'node:net';

export interface TcpProxyOptions {
  target: { host: string; port: number };
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (ephemeral). */
  port?: number;
}

export interface TcpProxy {
  /** Where it listens (port 0 in the options → the ephemeral port chosen). */
  readonly host: string;
  readonly port: number;
  /** `ws://host:port` convenience. */
  readonly url: string;
  /** Bytes forwarded client→target and target→client since start (or since resetCounters()). */
  readonly bytesToTarget: number;
  readonly bytesFromTarget: number;
  /** Currently open proxied connection pairs. */
  readonly connections: number;
  /** Pairs accepted since start (refused connections are not counted). */
  readonly totalConnections: number;
  resetCounters(): void;
  /** One-way delay added to each direction, applied to bytes read from now on; keeps ordering; 0 = none. */
  setLatency(ms: number): void;
  /** Bandwidth cap per direction per connection, applied to existing pairs too; null = unlimited. */
  throttle(bytesPerSecond: number | null): void;
  /** Resets (RST) every current pair; new connections are still accepted. */
  cut(): void;
  /**
   * While on: sockets stay open but data is dropped (FIN and RST still pass, see Direction). `direction` says
   * which way is switched: both (the default), client→target ('toTarget') or target→client ('fromTarget'); the
   * other way keeps its setting. Applies to existing and new pairs alike.
   */
  blackhole(on: boolean, direction?: BlackholeDirection): void;
  /** While on: new incoming connections are reset immediately; existing ones are untouched. */
  refuse(on: boolean): void;
  /** Future connections go there. */
  setTarget(target: { host: string; port: number }): void;
  /** Resolves when `connections` >= n; rejects after timeoutMs (default 10000) or on close(). */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /** Stops listening and destroys all pairs; resolves once every socket has closed. */
  close(): Promise<void>;
}

export type BlackholeDirection = 'both' | 'toTarget' | 'fromTarget';

/** One of the two directions of a pair. */
type Way = 'toTarget' | 'fromTarget';

interface Settings {
  latencyMs: number;
  bytesPerSecond: number | null;
  blackholed: Record<Way, boolean>;
}

type Timer = ReturnType<typeof setTimeout>;

/** Bytes a direction may hold in its delay/throttle queue before it stops reading its source. */
const QUEUE_HIGH_WATER = 1024 * 1024;
/** Throttled data leaves in slices of rate/SLICES_PER_SECOND bytes, so a cap never turns into one big burst. */
const SLICES_PER_SECOND = 50;

/** A chunk with the time it may leave; chunk null stands for the source's FIN. */
interface Pending {
  chunk: Buffer | null;
  due: number;
}

/**
 * One direction of a pair. Everything goes through one ordered queue drained by one timer, so latency
 * and throttling can never reorder bytes. FIN travels through the same queue (it must not overtake data)
 * and is forwarded even while black-holed: otherwise pairs would linger half-open after the test ends.
 */
class Direction {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private timer: Timer | undefined;
  private awaitingDrain = false;
  private nextSliceAt = 0;
  private stopped = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly settings: Settings,
    private readonly way: Way,
    private readonly count: (bytes: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => {
      if (!this.settings.blackholed[this.way]) this.enqueue(chunk);
    });
    from.on('end', () => this.enqueue(null));
    to.on('drain', () => {
      if (!this.awaitingDrain) return;
      this.awaitingDrain = false;
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private enqueue(chunk: Buffer | null): void {
    if (this.stopped) return;
    this.queue.push({ chunk, due: performance.now() + this.settings.latencyMs });
    if (chunk !== null) this.queuedBytes += chunk.length;
    // A pending timer is for an older item at the head; the new one waits behind it anyway.
    if (this.timer === undefined && !this.awaitingDrain) this.pump();
    else this.updateFlow();
  }

  private pump(): void {
    this.timer = undefined;
    while (!this.stopped && !this.awaitingDrain && this.queue.length > 0) {
      const head = this.queue[0]!;
      const waitMs = this.waitMs(head);
      if (waitMs > 0) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(waitMs));
        break;
      }
      if (head.chunk === null) {
        this.queue.shift();
        this.to.end();
        break;
      }
      const piece = this.take(head, head.chunk);
      // Bytes already queued when the black hole opens are lost too, as packets in flight would be.
      if (this.settings.blackholed[this.way]) continue;
      this.count(piece.length);
      if (!this.to.write(piece)) this.awaitingDrain = true;
    }
    this.updateFlow();
  }

  private waitMs(head: Pending): number {
    const now = performance.now();
    if (head.due > now) return head.due - now;
    if (head.chunk !== null && this.settings.bytesPerSecond !== null && this.nextSliceAt > now) {
      return this.nextSliceAt - now;
    }
    return 0;
  }

  /** Removes the next piece allowed to leave now from the head of the queue. */
  private take(head: Pending, chunk: Buffer): Buffer {
    const rate = this.settings.bytesPerSecond;
    let size = chunk.length;
    if (rate !== null) {
      size = Math.min(size, Math.max(1, Math.floor(rate / SLICES_PER_SECOND)));
      this.nextSliceAt = performance.now() + (size * 1000) / rate;
    }
    if (size === chunk.length) this.queue.shift();
    else head.chunk = chunk.subarray(size);
    this.queuedBytes -= size;
    return size === chunk.length ? chunk : chunk.subarray(0, size);
  }

  /** Backpressure: stop reading while the destination is full or the queue is long, like a slow link would. */
  private updateFlow(): void {
    if (this.stopped || this.from.destroyed) return;
    if (this.awaitingDrain || this.queuedBytes >= QUEUE_HIGH_WATER) this.from.pause();
    else this.from.resume();
  }
}

/** RST rather than FIN, so the peer sees what a cut cable or crashed host gives it. */
function hardClose(socket: net.Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() on a socket still connecting would wait for the connection just to reset it; on one whose FIN
  // is already queued, Node 20 emits 'error' but never 'close'.
  if (socket.connecting || socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/** A client socket and its target socket, with one Direction each way. */
class Pair {
  readonly closed: Promise<void>;
  private readonly upstream: Direction;
  private readonly downstream: Direction;

  constructor(
    private readonly client: net.Socket,
    private readonly target: net.Socket,
    settings: Settings,
    counters: { bytesToTarget: number; bytesFromTarget: number },
    onGone: (pair: Pair) => void,
  ) {
    this.upstream = new Direction(client, target, settings, 'toTarget', (n) => (counters.bytesToTarget += n));
    this.downstream = new Direction(target, client, settings, 'fromTarget', (n) => (counters.bytesFromTarget += n));
    const closes = [this.watch(client, target, this.downstream), this.watch(target, client, this.upstream)];
    this.closed = Promise.all(closes).then(() => {
      this.stopAll();
      onGone(this);
    });
  }

  /** Tears the pair down abruptly: both sides get a reset. */
  reset(): void {
    this.stopAll();
    hardClose(this.client);
    hardClose(this.target);
  }

  private stopAll(): void {
    this.upstream.stop();
    this.downstream.stop();
  }

  /** Resolves when `socket` closes; propagates an abrupt close to `other`. */
  private watch(socket: net.Socket, other: net.Socket, into: Direction): Promise<void> {
    // The tests' edges use ws, which sets TCP_NODELAY; the proxy must not add Nagle delays of its own.
    socket.setNoDelay(true);
    socket.on('error', () => {
      this.stopAll();
      hardClose(other);
    });
    return new Promise((resolve) => {
      socket.once('close', () => {
        // Nothing more can be written to this socket; the other direction may still owe a delayed FIN.
        into.stop();
        if (!socket.readableEnded) {
          this.stopAll();
          hardClose(other);
        }
        resolve();
      });
    });
  }
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: Timer;
}

function listen(server: net.Server, host: string, port: number): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

/** Starts a proxy listening on options.host (default 127.0.0.1), port 0 unless given, forwarding to options.target. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const settings: Settings = { latencyMs: 0, bytesPerSecond: null, blackholed: { toTarget: false, fromTarget: false } };
  const counters = { bytesToTarget: 0, bytesFromTarget: 0 };
  let target = { ...options.target };
  let refusing = false;
  let closing: Promise<void> | undefined;
  let totalConnections = 0;
  const open = new Set<Pair>();
  const live = new Set<Pair>();
  const waiters = new Set<Waiter>();

  const settleWaiters = (): void => {
    for (const waiter of waiters) {
      if (open.size < waiter.n) continue;
      waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  };

  // allowHalfOpen: the proxy forwards each FIN itself, after the data queued ahead of it.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (refusing || closing !== undefined) {
      client.on('error', () => {});
      hardClose(client);
      return;
    }
    totalConnections += 1;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const pair = new Pair(client, upstream, settings, counters, (gone) => {
      open.delete(gone);
      live.delete(gone);
    });
    open.add(pair);
    live.add(pair);
    settleWaiters();
  });

  const address = await listen(server, options.host ?? '127.0.0.1', options.port ?? 0);
  // Errors after listen (e.g. EMFILE on accept) must not crash the test process; the pairs report their own.
  server.on('error', () => {});
  const urlHost = address.address.includes(':') ? `[${address.address}]` : address.address;

  const resetAll = (): void => {
    for (const pair of open) pair.reset();
    // Counted as gone at once, so `connections` is 0 right after cut() even before the close events.
    open.clear();
  };

  return {
    host: address.address,
    port: address.port,
    url: `ws://${urlHost}:${address.port}`,
    get bytesToTarget() {
      return counters.bytesToTarget;
    },
    get bytesFromTarget() {
      return counters.bytesFromTarget;
    },
    get connections() {
      return open.size;
    },
    get totalConnections() {
      return totalConnections;
    },
    resetCounters() {
      counters.bytesToTarget = 0;
      counters.bytesFromTarget = 0;
    },
    setLatency(ms) {
      if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`latency must be a finite number >= 0, got ${ms}`);
      settings.latencyMs = ms;
    },
    throttle(bytesPerSecond) {
      if (bytesPerSecond !== null && !(bytesPerSecond > 0 && Number.isFinite(bytesPerSecond))) {
        throw new RangeError(`throttle must be null or a finite number > 0, got ${bytesPerSecond}`);
      }
      settings.bytesPerSecond = bytesPerSecond;
    },
    cut: resetAll,
    blackhole(on, direction = 'both') {
      if (direction !== 'both' && direction !== 'toTarget' && direction !== 'fromTarget') {
        throw new RangeError(
          `blackhole direction must be 'both', 'toTarget' or 'fromTarget', got ${String(direction)}`,
        );
      }
      if (direction !== 'fromTarget') settings.blackholed.toTarget = on;
      if (direction !== 'toTarget') settings.blackholed.fromTarget = on;
    },
    refuse(on) {
      refusing = on;
    },
    setTarget(next) {
      target = { ...next };
    },
    waitForConnections(n, timeoutMs = 10_000) {
      if (open.size >= n) return Promise.resolve();
      if (closing !== undefined) return Promise.reject(new Error('tcp proxy is closed'));
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          n,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(new Error(`tcp proxy: ${open.size} of ${n} connections after ${timeoutMs} ms`));
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        resetAll();
        for (const waiter of waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error('tcp proxy closed'));
        }
        waiters.clear();
        await Promise.all([stopped, ...[...live].map((pair) => pair.closed)]);
      })();
      return closing;
    },
  };
}
