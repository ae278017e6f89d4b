// A bare protocol client for tests: speaks JSON or msgpack frames by hand over `ws`, records every op,
// and lets a test await the next op that matches, or the close, with a deadline.

import type { ExecutionContext } from 'ava';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';

export type Op = Record<string, unknown> & { op: string };

export class RawClient {
  readonly received: Op[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters: Array<{ match: (op: Op) => boolean; resolve: (op: Op) => void }> = [];
  private cursor = 0;

  private constructor(
    readonly ws: WebSocket,
    readonly format: 'json' | 'msgpack',
  ) {
    ws.on('message', (data, isBinary) => {
      const op = (isBinary ? unpack(data as Buffer) : JSON.parse(data.toString())) as Op;
      this.received.push(op);
      const index = this.waiters.findIndex((waiter) => waiter.match(op));
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(op);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** Opens a socket to an edge's /v1/ws (from `localAddress`, say 127.0.0.2, to be another client address); closed in teardown. */
  static async open(
    t: ExecutionContext,
    edgeUrl: string,
    format: 'json' | 'msgpack' | 'none' = 'json',
    headers: Record<string, string> = {},
    localAddress?: string,
  ): Promise<RawClient> {
    const protocols = format === 'none' ? [] : [`relaymesh.v1.${format}`];
    const ws = new WebSocket(`${edgeUrl}/v1/ws`, protocols, { headers, ...(localAddress ? { localAddress } : {}) });
    const client = new RawClient(ws, format === 'msgpack' ? 'msgpack' : 'json');
    t.teardown(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Opens, sends `connect`, and waits for `welcome`. */
  static async connected(
    t: ExecutionContext,
    edgeUrl: string,
    format: 'json' | 'msgpack' = 'json',
    localAddress?: string,
  ): Promise<RawClient> {
    const client = await RawClient.open(t, edgeUrl, format, {}, localAddress);
    client.send({ op: 'connect' });
    await client.next((op) => op.op === 'welcome');
    return client;
  }

  send(op: Record<string, unknown>): void {
    this.ws.send(this.format === 'msgpack' ? pack(op) : JSON.stringify(op));
  }

  /** Subscribes and waits for the answer (subok or error). */
  async subscribe(topic: string, id: number | string, since?: { epoch: string; offset: number }): Promise<Op> {
    this.send(since ? { op: 'sub', id, topic, since } : { op: 'sub', id, topic });
    return this.next((op) => op.id === id);
  }

  /** Resolves with the first op received from now on (or already received and not yet consumed by `next`) that matches. */
  next(match: (op: Op) => boolean = () => true, timeoutMs = 10_000): Promise<Op> {
    for (; this.cursor < this.received.length; this.cursor++) {
      const op = this.received[this.cursor]!;
      if (match(op)) {
        this.cursor++;
        return Promise.resolve(op);
      }
    }
    this.cursor = this.received.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no matching op within ${timeoutMs} ms; received ${JSON.stringify(this.received.slice(-5))}`),
          ),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (op) => {
          clearTimeout(timer);
          this.cursor = this.received.length;
          resolve(op);
        },
      });
    });
  }

  /** Waits until `count` `msg` ops have arrived in all; returns them. */
  async messages(count: number, timeoutMs = 10_000): Promise<Op[]> {
    const all = (): Op[] => this.received.filter((op) => op.op === 'msg');
    if (all().length < count) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`got ${all().length} of ${count} messages within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const check = (): void => {
          if (all().length >= count) {
            clearTimeout(timer);
            this.ws.off('message', onMessage);
            resolve();
          }
        };
        const onMessage = (): void => queueMicrotask(check);
        this.ws.on('message', onMessage);
      });
    }
    return all();
  }
}

/** The HTTP status an upgrade to an edge's /v1/ws gets: 101 when it opens, else the refusal's status. */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/v1/ws`, 'relaymesh.v1.json', { headers });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}
