// Corner cases of sessions and the SDK: hostile op names, an exact `since` under a pattern, subscribing while
// reconnecting, and unsubscribing a subscription the core has not answered yet.

import test from 'ava';
import { NodeMeshClient } from '../client/node.js';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { publish } from './helpers/http-publish.js';

test('an unknown op full of control characters closes 4400 and the edge lives on', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  for (const op of ['\u0001'.repeat(40), '\ud800'.repeat(40), 'é'.repeat(200)]) {
    const client = await RawClient.open(t, edge.url);
    client.send({ op });
    t.is((await client.closed).code, 4400);
  }
  const health = await fetch(`${mesh.http(edge)}/healthz`);
  t.is(health.status, 200);
});

test('an exact subscription with since under a pattern of the same session replays in order', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  await client.subscribe('chat.*', 1);
  let position = { epoch: '', offset: 0 };
  for (let i = 1; i <= 4; i++) position = await publish(mesh.core, 'chat.a', i);
  await client.messages(4);
  const answer = await client.subscribe('chat.a', 2, { epoch: position.epoch, offset: 2 });
  t.like(answer, { op: 'subok', recovered: true, offset: 4 });
  await publish(mesh.core, 'chat.a', 5);
  await client.messages(7);
  const replayedThenLive = client.received.slice(client.received.indexOf(answer) + 1).filter((op) => op.op === 'msg');
  t.deepEqual(
    replayedThenLive.map((op) => op.offset),
    [3, 4, 5],
    'the replay asked for, then the live message once',
  );
});

test('subscribing while the client reconnects resolves once connected, with no duplicate subscription', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const proxy = await startTcpProxy({ target: mesh.edges[0]!.address });
  t.teardown(() => proxy.close());
  const client = new NodeMeshClient({ url: proxy.url, reconnect: { baseMs: 10, maxMs: 50 } });
  t.teardown(() => client.close());
  const errors: string[] = [];
  client.on('error', (error) => errors.push(error.message));
  await client.connect();
  const reconnecting = new Promise<void>((resolve) =>
    client.on('state', (state) => state === 'reconnecting' && resolve()),
  );
  proxy.refuse(true);
  proxy.cut();
  await reconnecting;
  const subscribing = client.subscribe('x.y');
  proxy.refuse(false);
  const subscription = await subscribing;
  const received = new Promise<unknown>((resolve) => {
    void (async () => {
      for await (const message of subscription) return resolve(message.data);
    })();
  });
  await publish(mesh.core, 'x.y', 'hello');
  t.is(await received, 'hello');
  t.deepEqual(errors, []);
});

test('unsubscribing before the core answered ends the waiting sub with not_subscribed', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  await mesh.core.close();
  client.send({ op: 'sub', id: 1, topic: 'waits.forever' });
  client.send({ op: 'unsub', id: 2, topic: 'waits.forever' });
  t.like(await client.next((op) => op.id === 1), { op: 'error', code: 'not_subscribed' });
  t.like(await client.next((op) => op.id === 2), { op: 'unsubok' });
});
