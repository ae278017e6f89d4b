// The traffic of the chaos run: subscribers that record every offset with its arrival time, and a steady publisher.

import WebSocket from 'ws';
import type { EdgeHandle } from '../edge/start-edge.js';

/** Every wait of the chaos run gives up after this long. */
export const deadlineMs = 10_000;
/** Messages published after the last fault is over, so the run ends on a stable link. */
const tailMessages = 20;

type Clock = () => number;
export const now: Clock = () => performance.now();
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Re-checks `condition` every millisecond (the nodes expose no events for these) until the deadline. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = deadlineMs): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!condition()) {
    if (now() > deadline) throw new Error(`chaos: ${what} not within ${timeoutMs} ms`);
    await delay(1);
  }
}

/** A json client subscribed to the chaos topic, keeping each offset it receives with its first arrival time. */
export class ChaosClient {
  readonly offsets: number[] = [];
  readonly seqs: unknown[] = [];
  readonly arrivals = new Map<number, number>();
  resets = 0;
  errors = 0;
  closed = false;
  private readonly waiters = new Set<{ offset: number; wake: () => void }>();

  private constructor(
    readonly edge: string,
    readonly ws: WebSocket,
    private readonly topic: string,
  ) {
    ws.on('message', (data) => this.receive(JSON.parse(String(data)) as Record<string, unknown>));
    ws.on('close', () => (this.closed = true));
    ws.on('error', () => {});
  }

  static async open(edge: EdgeHandle, topic: string): Promise<ChaosClient> {
    const ws = new WebSocket(`${edge.url}/v1/ws`, 'relaymesh.v1.json');
    const client = new ChaosClient(edge.id, ws, topic);
    const answer = (op: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`chaos client: no ${op} within ${deadlineMs} ms`)), deadlineMs);
        ws.on('message', function listen(data) {
          if ((JSON.parse(String(data)) as { op: string }).op !== op) return;
          clearTimeout(timer);
          ws.off('message', listen);
          resolve();
        });
      });
    try {
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const welcomed = answer('welcome');
      ws.send(JSON.stringify({ op: 'connect' }));
      await welcomed;
      const subscribed = answer('subok');
      ws.send(JSON.stringify({ op: 'sub', id: 1, topic }));
      await subscribed;
      return client;
    } catch (error) {
      ws.terminate();
      throw error;
    }
  }

  /** Resolves true once `offset` has arrived, false after the deadline. */
  has(offset: number, timeoutMs: number): Promise<boolean> {
    if (this.arrivals.has(offset)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { offset, wake: () => finish(true) };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (found: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(found);
      };
      this.waiters.add(waiter);
    });
  }

  /** When this client first held every offset in [first, last]; Infinity if it never did. */
  completeAt(first: number, last: number): number {
    let at = -Infinity;
    for (let offset = first; offset <= last; offset++) at = Math.max(at, this.arrivals.get(offset) ?? Infinity);
    return at;
  }

  private receive(op: Record<string, unknown>): void {
    if (op.op === 'reset') this.resets++;
    else if (op.op === 'error') this.errors++;
    if (op.op !== 'msg' || op.topic !== this.topic || typeof op.offset !== 'number') return;
    const offset = op.offset;
    this.offsets.push(offset);
    this.seqs.push((op.data as { seq?: unknown } | null)?.seq);
    if (this.arrivals.has(offset)) return;
    this.arrivals.set(offset, now());
    for (const waiter of this.waiters) if (waiter.offset === offset) waiter.wake();
  }
}

/** Publishes {seq} to the core over HTTP at a steady rate, one request at a time, until told it may stop. */
export class Publisher {
  /** seq by offset, as the core acknowledged it. */
  readonly seqAt = new Map<number, number>();
  lastOffset = 0;
  firstOffset = 0;
  published = 0;
  private faultsDoneAt: number | undefined;
  private readonly waiters = new Set<{ count: number; wake: () => void }>();

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly minimum: number,
    private readonly rateHz: number,
  ) {}

  /** Called once the faults are over: publishing goes on to the minimum, and at least a short tail past now. */
  faultsDone(): void {
    this.faultsDoneAt ??= this.published;
  }

  whenPublished(count: number): Promise<void> {
    if (this.published >= count) return Promise.resolve();
    return new Promise((wake) => this.waiters.add({ count, wake }));
  }

  async run(): Promise<void> {
    const interval = 1000 / this.rateHz;
    let nextAt = now();
    while (
      this.published < this.minimum ||
      this.faultsDoneAt === undefined ||
      this.published < this.faultsDoneAt + tailMessages
    ) {
      const wait = nextAt - now();
      if (wait > 0) await delay(wait);
      nextAt = Math.max(nextAt + interval, now() - interval);
      const seq = this.published + 1;
      const response = await fetch(`${this.url}/v1/publish`, {
        method: 'POST',
        body: JSON.stringify({ topic: this.topic, data: { seq } }),
      });
      if (response.status !== 200)
        throw new Error(`chaos: publish ${seq} answered ${response.status}: ${await response.text()}`);
      const { offset } = (await response.json()) as { offset: number };
      this.seqAt.set(offset, seq);
      if (this.firstOffset === 0) this.firstOffset = offset;
      this.lastOffset = Math.max(this.lastOffset, offset);
      this.published = seq;
      for (const waiter of this.waiters) {
        if (this.published < waiter.count) continue;
        this.waiters.delete(waiter);
        waiter.wake();
      }
    }
    for (const waiter of this.waiters) waiter.wake();
  }
}
