// What an edge keeps out before a session exists, and how it limits one that does: origins (with CORS), publish
// keys, connections per IP, slow handshakes, message size before connect, message rate, topics per edge.

import { connect } from 'node:net';
import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawClient, upgradeStatus } from './helpers/raw-client.js';

test('a disallowed Origin gets 403 before any upgrade; allowed ones and non-browser clients get through; CORS follows the list', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { origins: ['https://app.example.com'], url: 'wss://edge.example.net' },
  });
  const edge = mesh.edges[0]!;
  t.is(await upgradeStatus(edge.url, { origin: 'https://evil.example.com' }), 403);
  t.is(await upgradeStatus(edge.url, { origin: 'https://app.example.com' }), 101);
  t.is(await upgradeStatus(edge.url, { origin: 'https://edge.example.net' }), 101, "the edge's own pages may connect");
  t.is(await upgradeStatus(edge.url, {}), 101);

  const base = mesh.http(edge);
  const allowed = await fetch(`${base}/healthz`, { headers: { origin: 'https://app.example.com' } });
  t.is(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
  const other = await fetch(`${base}/healthz`, { headers: { origin: 'https://evil.example.com' } });
  t.is(other.headers.get('access-control-allow-origin'), null);
  const preflight = await fetch(`${base}/v1/publish`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
  });
  t.is(preflight.status, 204);
  t.regex(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
  const deniedPreflight = await fetch(`${base}/v1/publish`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example.com' },
  });
  t.is(deniedPreflight.status, 403);
});

test('publish keys guard POST /v1/publish and the mesh view (GET /v1/mesh) on the core and the edge', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    core: { publishKeys: ['k-core'] },
    edge: { publishKeys: ['k-edge', 'k-other'] },
  });
  const body = JSON.stringify({ topic: 'keys.t', data: 1 });
  for (const [node, good] of [
    [mesh.core, 'k-core'],
    [mesh.edges[0]!, 'k-other'],
  ] as const) {
    const base = mesh.http(node);
    const none = await fetch(`${base}/v1/publish`, { method: 'POST', body });
    t.is(none.status, 401);
    t.like(await none.json(), { error: { code: 'unauthorized' } });
    t.is(
      (await fetch(`${base}/v1/publish`, { method: 'POST', body, headers: { authorization: 'Bearer wrong' } })).status,
      401,
    );
    t.is(
      (await fetch(`${base}/v1/publish`, { method: 'POST', body, headers: { authorization: `Bearer ${good}` } }))
        .status,
      200,
    );
    t.is((await fetch(`${base}/v1/mesh`)).status, 401, 'internal URLs and load are not for anyone');
    t.is((await fetch(`${base}/v1/mesh`, { headers: { authorization: `Bearer ${good}` } })).status, 200);
    t.is((await fetch(`${base}/v1/locate?region=eu`, { redirect: 'manual' })).status, 307, 'locate stays public');
  }
});

test('connections per IP are capped with 429 before the upgrade', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxConnectionsPerIp: 2 } },
  });
  const edge = mesh.edges[0]!;
  await RawClient.connected(t, edge.url);
  const second = await RawClient.connected(t, edge.url);
  t.is(await upgradeStatus(edge.url, {}), 429);
  second.ws.close();
  await second.closed;
  // The slot frees when the socket closes on the edge too; a fresh request comes after that close.
  let status = 0;
  for (let i = 0; i < 200 && status !== 101; i++) status = await upgradeStatus(edge.url, {});
  t.is(status, 101);
});

test('before connect a message may be only maxPreConnectMessageBytes; after it, up to maxMessageBytes', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxPreConnectMessageBytes: 256 } },
  });
  const stranger = await RawClient.open(t, mesh.edges[0]!.url);
  stranger.send({ op: 'connect', token: 'x'.repeat(1000) });
  t.is((await stranger.closed).code, 1009);
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  client.send({ op: 'pub', id: 1, topic: 'big.one', data: 'x'.repeat(1000) });
  t.like(await client.next((op) => op.id === 1), { op: 'puback' });
});

test('a session over its message rate gets rate_limited, and one that keeps going is closed with 4529', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { messagesPerSecond: 1, messageBurst: 5 } },
  });
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  for (let i = 0; i < 20; i++) client.send({ op: 'ping', id: i });
  const codes = (await client.closed).code;
  const errors = client.received.filter((op) => op.op === 'error');
  t.true(errors.length > 0 && errors.every((op) => op.code === 'rate_limited'));
  t.true(client.received.filter((op) => op.op === 'pong').length <= 5);
  t.is(codes, 4529);
  const bystander = await RawClient.connected(t, mesh.edges[0]!.url);
  bystander.send({ op: 'ping', id: 'still-fine' });
  t.like(await bystander.next((op) => op.id === 'still-fine'), { op: 'pong' });
});

test('an edge subscribes at most maxTopicsPerEdge topics on its uplink', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { limits: { maxTopicsPerEdge: 2 } } });
  const a = await RawClient.connected(t, mesh.edges[0]!.url);
  const b = await RawClient.connected(t, mesh.edges[0]!.url);
  t.like(await a.subscribe('t.1', 1), { op: 'subok' });
  t.like(await a.subscribe('t.*', 2), { op: 'subok' });
  t.like(await b.subscribe('t.3', 1), { op: 'error', code: 'too_many_subscriptions' });
  t.like(await b.subscribe('t.1', 2), { op: 'subok' }, 'a topic the edge already holds still fits');
});

test('a slow handshake (a request head that never finishes) is dropped after headerTimeoutMs, on edges and cores', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { headerTimeoutMs: 300 } },
    core: { headerTimeoutMs: 300 },
  });
  for (const node of [mesh.edges[0]!, mesh.core]) {
    const socket = connect(node.address.port, node.address.host);
    t.teardown(() => socket.destroy());
    socket.on('error', () => {});
    // Read what comes (a 408), or 'close' never fires.
    socket.resume();
    socket.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    // The server ends it (408 or a plain close) without the head ever completing.
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    t.pass();
  }
  t.is((await fetch(`${mesh.http(mesh.edges[0]!)}/healthz`)).status, 200);
});
