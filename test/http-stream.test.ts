// HTTP streaming emulation (docs/protocol.md §3): the same protocol scenario gives the same ops over WebSocket and over
// an event stream; a broken stream resumed with Last-Event-ID loses nothing; sessions end cleanly.

import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import test from 'ava';
import { tcpState } from './helpers/tcp-states.js';
import { startMesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { StreamClient } from './helpers/stream-client.js';
import { publish } from './helpers/http-publish.js';

const scenario = [
  { op: 'sub', id: 1, topic: 'parity.a' },
  { op: 'sub', id: 2, topic: 'a..b' },
  { op: 'unsub', id: 3, topic: 'never.subscribed' },
  { op: 'sub', id: 4, topic: 'parity.*' },
  { op: 'pub', id: 5, topic: 'parity.a', data: { from: 'client' } },
  { op: 'pub', id: 6, topic: 'parity.a' },
];

/**
 * What a client saw, without what differs between two meshes (epochs, session ids) or in order between transports:
 * answers to different requests may come in any order (a WebSocket's ops are taken one per turn, a batch POST's at
 * once). The order of messages is tested on its own elsewhere.
 */
function normalise(ops: Op[]): unknown[] {
  return ops
    .map((op) => JSON.stringify({ ...op, ...(op.epoch ? { epoch: 'E' } : {}) }))
    .sort()
    .map((text) => JSON.parse(text) as unknown);
}

test('the same scenario gives the same ops over WebSocket and over HTTP streaming', async (t) => {
  const seen: unknown[][] = [];
  for (const transport of ['websocket', 'http-stream'] as const) {
    const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
    const edge = mesh.edges[0]!;
    let ops: () => Op[];
    let waitFor: (match: (op: Op) => boolean) => Promise<unknown>;
    if (transport === 'websocket') {
      const client = await RawClient.connected(t, edge.url);
      for (const op of scenario) client.send(op);
      ops = () => client.received.filter((op) => op.op !== 'welcome');
      waitFor = (match) => client.next(match);
    } else {
      const client = await StreamClient.open(t, mesh.http(edge));
      await client.listen();
      t.is(await client.send(scenario), 202);
      ops = () => client.ops();
      waitFor = (match) => client.next((event) => match(event.data));
    }
    await waitFor((op) => op.id === 6);
    await publish(mesh.core, 'parity.a', 'from the core');
    await publish(mesh.core, 'parity.b', 'through the pattern');
    await waitFor((op) => op.op === 'msg' && op.topic === 'parity.b');
    seen.push(normalise(ops()));
  }
  t.deepEqual(seen[1], seen[0]);
  t.true(seen[0]!.some((op) => (op as Op).code === 'invalid_topic'));
  t.true(seen[0]!.some((op) => (op as Op).code === 'not_subscribed'));
  t.true(
    seen[0]!.some((op) => (op as Op).id === 6 && (op as Op).op === 'error'),
    'a pub without data is bad_request on both',
  );
});

test('a broken event stream resumed with Last-Event-ID loses nothing and repeats nothing', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const client = await StreamClient.open(t, mesh.http(mesh.edges[0]!));
  await client.listen();
  await client.send({ op: 'sub', id: 1, topic: 'resume.t' });
  await client.next((event) => event.data.op === 'subok');
  for (let i = 1; i <= 3; i++) await publish(mesh.core, 'resume.t', i);
  await client.next((event) => event.data.offset === 3);
  client.break();
  for (let i = 4; i <= 8; i++) await publish(mesh.core, 'resume.t', i);
  await client.listen(client.lastEventId);
  await publish(mesh.core, 'resume.t', 9);
  await client.next((event) => event.data.offset === 9);
  const messages = client.ops().filter((op) => op.op === 'msg');
  t.deepEqual(
    messages.map((op) => op.data),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  const ids = client.events.map((event) => event.id);
  t.deepEqual(ids, [...new Set(ids)], 'every event id once');
});

test('sessions: a bad connect is refused with its error; unknown sessions are 404; a resume from a lost event ends the session', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { outboxMaxBytes: 64 * 1024 } },
  });
  const base = mesh.http(mesh.edges[0]!);
  t.is(
    (await fetch(`${base}/v1/session`, { method: 'POST', body: JSON.stringify({ op: 'sub', topic: 'x' }) })).status,
    400,
  );
  t.is((await fetch(`${base}/v1/session/${'A'.repeat(32)}/stream`)).status, 404);
  const client = await StreamClient.open(t, base);
  await client.listen();
  await client.send({ op: 'sub', id: 1, topic: 'big.t' });
  await client.next((event) => event.data.op === 'subok');
  client.break();
  // More than the outbox holds arrives while no stream is attached: the oldest events are dropped.
  for (let i = 0; i < 10; i++) await publish(mesh.core, 'big.t', 'x'.repeat(20_000));
  await client.listen(0);
  const closed = await client.next((event) => event.event === 'close');
  t.like(closed.data, { code: 4508 });
});

test('an HTTP-streaming session is refused from a disallowed origin, while draining, and past the per-IP limit', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { origins: ['https://app.example.com'], limits: { maxConnectionsPerIp: 2 } },
  });
  const base = mesh.http(mesh.edges[0]!);
  const open = (headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/session`, { method: 'POST', headers, body: JSON.stringify({ op: 'connect' }) });
  t.is((await open({ origin: 'https://evil.example.com', 'content-type': 'text/plain' })).status, 403);
  t.is((await open({ origin: 'https://app.example.com' })).status, 201);
  t.is((await open()).status, 201);
  t.is((await open()).status, 429, 'two sessions from this address already');
  await mesh.edges[0]!.drain();
  t.is((await open()).status, 503);
});

test('a new stream without Last-Event-ID does not repeat what an earlier stream was sent', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const client = await StreamClient.open(t, mesh.http(mesh.edges[0]!));
  await client.listen();
  await client.send({ op: 'ping', id: 'first' });
  await client.next((event) => event.data.id === 'first');
  client.break();
  await client.listen();
  await client.send({ op: 'ping', id: 'second' });
  await client.next((event) => event.data.id === 'second');
  t.deepEqual(
    client.ops().map((op) => op.id),
    ['first', 'second'],
  );
});

test('one HTTP-streaming subscriber closed as a slow consumer mid fan-out costs the others nothing', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { outboxMaxBytes: 3000 } },
  });
  const base = mesh.http(mesh.edges[0]!);
  const slow = await StreamClient.open(t, base);
  const others = await Promise.all([StreamClient.open(t, base), StreamClient.open(t, base)]);
  // The slow one subscribes first (it is first in the fan-out) and also to a topic only it receives.
  for (const client of [slow, ...others]) {
    await client.listen();
    await client.send({ op: 'sub', id: 1, topic: 'burst.t' });
    await client.next((event) => event.data.op === 'subok');
  }
  await slow.send({ op: 'sub', id: 2, topic: 'burst.extra' });
  await slow.next((event) => event.data.id === 2);
  // One request: it reaches the edge as one batch, and the slow subscriber's outbox overflows in the middle of the
  // fan-out of burst.t, which must not make the next subscriber miss that message.
  const batch = [
    { topic: 'burst.extra', data: 'x'.repeat(1400) },
    { topic: 'burst.extra', data: 'y'.repeat(1400) },
    ...[1, 2, 3, 4].map((n) => ({ topic: 'burst.t', data: n })),
  ];
  t.is(
    (await fetch(`${mesh.http(mesh.core)}/v1/publish`, { method: 'POST', body: JSON.stringify(batch) })).status,
    200,
  );
  t.like((await slow.next((event) => event.event === 'close')).data, { code: 4508 });
  for (const client of others) {
    await client.next((event) => event.data.offset === 4);
    t.deepEqual(
      client
        .ops()
        .filter((op) => op.op === 'msg')
        .map((op) => op.data),
      [1, 2, 3, 4],
    );
  }
});

test('a stream cut as a slow consumer lets go of its socket: a client that stops reading keeps nothing on the edge', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { outboxMaxBytes: 256 * 1024 } },
  });
  const edge = mesh.edges[0]!;
  const client = await StreamClient.open(t, mesh.http(edge));
  t.is(await client.send({ op: 'sub', id: 1, topic: 'flood.t' }), 202);
  // The stream over a raw socket that reads the response head, then nothing more.
  const socket = connect(edge.address.port, edge.address.host);
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(`GET ${String(client.welcome.stream)} HTTP/1.1\r\nhost: edge\r\n\r\n`);
  await once(socket, 'data');
  socket.pause();
  const chunk = 'x'.repeat(100_000);
  for (let round = 0; round < 200 && (await edge.metrics.slowConsumers.get()).values[0]?.value !== 1; round++) {
    await publish(mesh.core, 'flood.t', chunk);
  }
  t.is((await edge.metrics.slowConsumers.get()).values[0]?.value, 1, 'the stream was cut as a slow consumer');
  let state = await tcpState(edge.address.port, socket.localPort!);
  for (let i = 0; i < 400 && state === 'ESTABLISHED'; i++) {
    await delay(25);
    state = await tcpState(edge.address.port, socket.localPort!);
  }
  t.not(state, 'ESTABLISHED', 'the edge closed its end of the socket');
  t.is(edge.sessionCount, 0);
});
