// The client SDK against a real mesh: connect, subscribe (callback and async iterator), publish with
// acknowledgement, and reconnecting through a cut connection with `since`, surfacing recovered and reset.

import test from 'ava';
import { NodeMeshClient } from '../client/node.js';
import { collector } from './helpers/collector.js';
import { startMesh } from './helpers/mesh.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

test('connect, subscribe with a callback and an iterator, publish with acknowledgement', async (t) => {
  const mesh = await startMesh(t);
  const client = new NodeMeshClient({ url: mesh.edges[0]!.url });
  t.teardown(() => client.close());
  const welcome = await client.connect();
  t.like(welcome, { op: 'welcome', edge: 'eu-1', region: 'eu' });

  const seen = collector();
  const callbackSubscription = await client.subscribe('prices.eur-usd', { onMessage: seen.onMessage });
  const iterated = await client.subscribe('prices.*');
  t.false(callbackSubscription.recovered);

  const other = new NodeMeshClient({ url: mesh.edges[1]!.url });
  t.teardown(() => other.close());
  const first = await other.publish('prices.eur-usd', { bid: 1.08 });
  const second = await other.publish('prices.eur-usd', { bid: 1.09 });
  t.is(second.offset, first.offset + 1);

  t.deepEqual(
    (await seen.until(2)).map((message) => message.data),
    [{ bid: 1.08 }, { bid: 1.09 }],
  );
  const received: unknown[] = [];
  for await (const message of iterated) {
    received.push(message.data);
    if (received.length === 2) break;
  }
  t.deepEqual(received, [{ bid: 1.08 }, { bid: 1.09 }]);
  t.deepEqual(callbackSubscription.position, { epoch: second.epoch, offset: second.offset });
});

test('after a cut connection the client reconnects, resubscribes with since and misses nothing', async (t) => {
  const mesh = await startMesh(t);
  const edge = mesh.edges[0]!;
  const proxy = await startTcpProxy({ target: edge.address });
  t.teardown(() => proxy.close());
  const client = new NodeMeshClient({ url: proxy.url, reconnect: { baseMs: 20, maxMs: 200 } });
  t.teardown(() => client.close());
  const states: string[] = [];
  client.on('state', (state) => states.push(state));

  const seen = collector();
  const answers: boolean[] = [];
  await client.subscribe('chat.room-17', {
    onMessage: seen.onMessage,
    onSubscribed: ({ recovered }) => answers.push(recovered),
  });
  const publish = (data: unknown) =>
    fetch(`${mesh.http(mesh.core)}/v1/publish`, {
      method: 'POST',
      body: JSON.stringify({ topic: 'chat.room-17', data }),
    });
  await publish(1);
  await publish(2);
  await seen.until(2);

  const reconnected = new Promise<void>((resolve) => client.on('welcome', () => resolve()));
  proxy.refuse(true);
  proxy.cut();
  for (let i = 3; i <= 5; i++) await publish(i);
  proxy.refuse(false);
  await reconnected;
  await publish(6);

  const messages = await seen.until(6);
  t.deepEqual(
    messages.map((message) => message.data),
    [1, 2, 3, 4, 5, 6],
  );
  t.deepEqual(
    messages.map((message) => message.offset),
    [1, 2, 3, 4, 5, 6],
  );
  t.deepEqual(answers, [false, true], 'the resubscription recovered the gap');
  t.true(states.includes('reconnecting'));
  t.is(states[states.length - 1], 'connected');
});

test('resuming from an unknown epoch surfaces a reset to the application', async (t) => {
  const mesh = await startMesh(t);
  const client = new NodeMeshClient({ url: mesh.edges[0]!.url });
  t.teardown(() => client.close());
  const resets: unknown[] = [];
  const subscription = await client.subscribe('user.42.inbox', {
    since: { epoch: 'gone', offset: 10 },
    onReset: (position) => resets.push(position),
  });
  t.false(subscription.recovered);
  t.is(resets.length, 1);
  t.like(resets[0], { offset: 0 });
});

test('unsubscribe ends the iterator; close rejects later requests', async (t) => {
  const mesh = await startMesh(t);
  const client = new NodeMeshClient({ url: mesh.edges[0]!.url });
  const subscription = await client.subscribe('a.b');
  const iteration = subscription[Symbol.asyncIterator]().next();
  await subscription.unsubscribe();
  t.deepEqual(await iteration, { value: undefined, done: true });
  await client.close();
  await t.throwsAsync(client.publish('a.b', 1), { message: /closed/ });
});
