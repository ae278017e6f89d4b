// The client SDK's HTTP-streaming transport (docs/protocol.md §3) and its WebSocket-first fallback, against a real mesh:
// http-stream alone, falling back when WebSocket cannot open, and resuming a broken stream without loss.

import test from 'ava';
import { NodeMeshClient, type TransportKind, type WebSocketFactory, type WebSocketLike } from '../client/node.js';
import { collector } from './helpers/collector.js';
import { startMesh } from './helpers/mesh.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

/** A WebSocket that never opens: an error and a 1006 close on the next turn, as when a proxy blocks upgrades. */
class FailingWebSocket implements WebSocketLike {
  static created = 0;
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(_url: string, _protocols: string[]) {
    FailingWebSocket.created++;
    setImmediate(() => {
      this.readyState = 3;
      this.onerror?.(new Error('blocked'));
      this.onclose?.({ code: 1006, reason: '' });
    });
  }

  send(): void {
    throw new Error('not open');
  }

  close(): void {}
}

test('a client on http-stream alone connects, subscribes, receives and publishes with acknowledgement', async (t) => {
  const mesh = await startMesh(t);
  const client = new NodeMeshClient({ url: mesh.edges[0]!.url, transports: ['http-stream'] });
  t.teardown(() => client.close());
  const welcome = await client.connect();
  t.like(welcome, { op: 'welcome', edge: 'eu-1', region: 'eu' });
  t.is(typeof welcome.session, 'string');
  t.is(client.transport, 'http-stream');

  const seen = collector();
  await client.subscribe('prices.eur-usd', { onMessage: seen.onMessage });
  const other = new NodeMeshClient({ url: mesh.edges[1]!.url });
  t.teardown(() => other.close());
  const first = await other.publish('prices.eur-usd', { bid: 1.08 });
  const own = await client.publish('prices.eur-usd', { bid: 1.09 });
  t.is(own.offset, first.offset + 1);
  const [a, b] = await Promise.all([client.publish('prices.eur-usd', 'a'), client.publish('prices.eur-usd', 'b')]);
  t.is(b.offset, a.offset + 1, 'publishes go out in order');
  t.deepEqual(
    (await seen.until(4)).map((message) => message.data),
    [{ bid: 1.08 }, { bid: 1.09 }, 'a', 'b'],
  );
  t.is(client.transport, 'http-stream');
});

// Serial (so before the others): it installs a localStorage, which the other tests' clients would write to.
test.serial(
  'a client whose WebSocket cannot open falls back to http-stream, says so, and starts there next time',
  async (t) => {
    const items = new Map<string, string>();
    const storage = {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
    };
    (globalThis as { localStorage?: unknown }).localStorage = storage;
    t.teardown(() => delete (globalThis as { localStorage?: unknown }).localStorage);
    const mesh = await startMesh(t);
    const client = new NodeMeshClient({
      url: mesh.edges[0]!.url,
      WebSocket: FailingWebSocket as unknown as WebSocketFactory,
    });
    t.teardown(() => client.close());
    const transports: TransportKind[] = [];
    client.on('transport', (kind) => transports.push(kind));
    const states: string[] = [];
    client.on('state', (state) => states.push(state));

    await client.connect();
    t.is(client.transport, 'http-stream');
    t.deepEqual(transports, ['http-stream']);
    t.is(FailingWebSocket.created, 1);
    t.false(states.includes('reconnecting'), 'the fallback is immediate, not a reconnect');

    const seen = collector();
    await client.subscribe('orders.new', { onMessage: seen.onMessage });
    const other = new NodeMeshClient({ url: mesh.edges[1]!.url });
    t.teardown(() => other.close());
    await other.publish('orders.new', 1);
    await other.publish('orders.new', 2);
    t.deepEqual(
      (await seen.until(2)).map((message) => message.data),
      [1, 2],
    );

    // What worked was remembered (in localStorage here): a new client starts with it, without trying WebSocket.
    t.is(storage.getItem('relaymesh.transport'), 'http-stream');
    const next = new NodeMeshClient({
      url: mesh.edges[0]!.url,
      WebSocket: FailingWebSocket as unknown as WebSocketFactory,
    });
    t.teardown(() => next.close());
    await next.connect();
    t.is(next.transport, 'http-stream');
    t.is(FailingWebSocket.created, 1, 'the next client started with http-stream');
  },
);

test('a broken stream is resumed with Last-Event-ID: every message once, in order, on the same session', async (t) => {
  const mesh = await startMesh(t);
  const edge = mesh.edges[0]!;
  const port = Number(new URL(edge.url).port);
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port } });
  t.teardown(() => proxy.close());
  const client = new NodeMeshClient({ url: proxy.url, transports: ['http-stream'] });
  t.teardown(() => client.close());
  const states: string[] = [];
  client.on('state', (state) => states.push(state));
  await client.connect();
  const session = client.welcome!.session;

  const seen = collector();
  await client.subscribe('ticks', { onMessage: seen.onMessage });
  const publisher = new NodeMeshClient({ url: edge.url });
  t.teardown(() => publisher.close());
  for (let i = 0; i < 5; i++) await publisher.publish('ticks', i);
  await seen.until(5);

  const before = proxy.totalConnections;
  proxy.cut();
  const published = Array.from({ length: 20 }, (_, i) => publisher.publish('ticks', 5 + i));
  await Promise.all(published);
  const received = await seen.until(25);
  t.deepEqual(
    received.map((message) => message.data),
    Array.from({ length: 25 }, (_, i) => i),
  );
  t.true(proxy.totalConnections > before, 'the stream was opened again');
  t.is(client.welcome!.session, session, 'resumed, not reconnected');
  t.false(states.includes('reconnecting'));

  // More after the resume still arrive exactly once.
  await publisher.publish('ticks', 25);
  t.deepEqual(
    (await seen.until(26)).map((message) => message.data),
    Array.from({ length: 26 }, (_, i) => i),
  );
});
