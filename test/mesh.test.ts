// End-to-end tests of a mesh (core + two edges, real sockets): fan-out to many clients, one uplink message
// per edge per publish, resume with `since` on the same or the other edge, and pattern subscriptions.

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { publish } from './helpers/http-publish.js';

function offsetsOf(ops: Op[]): number[] {
  return ops.map((op) => op.offset as number);
}

test('200 clients over two edges each receive 50 messages once, in order, with consecutive offsets', async (t) => {
  const mesh = await startMesh(t);
  const clients: RawClient[] = [];
  for (let i = 0; i < 200; i++) {
    const edge = mesh.edges[i % 2]!;
    clients.push(await RawClient.connected(t, edge.url, i % 4 < 2 ? 'json' : 'msgpack'));
  }
  const answers = await Promise.all(clients.map((client) => client.subscribe('prices.eur-usd', 1)));
  t.true(answers.every((op) => op.op === 'subok' && op.offset === 0));

  for (let i = 1; i <= 50; i++) await publish(mesh.core, 'prices.eur-usd', { n: i });

  const expected = Array.from({ length: 50 }, (_, i) => i + 1);
  for (const client of clients) {
    const messages = await client.messages(50);
    t.deepEqual(offsetsOf(messages), expected);
    t.deepEqual(
      messages.map((op) => (op.data as { n: number }).n),
      expected,
    );
  }
  // Nothing beyond the 50: a late duplicate would show up behind a final marker message.
  await publish(mesh.core, 'prices.eur-usd', 'end');
  for (const client of clients) t.is((await client.messages(51)).length, 51);
});

test('the core sends one uplink frame per edge per publish, whatever the number of subscribers', async (t) => {
  // No liveness pings from the core either (a slow run would count one in the bytes below).
  const mesh = await startMesh(t, { proxied: true, core: { uplinkTimeoutMs: 600_000 } });
  const [few, many] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];
  const fewClients = await Promise.all(Array.from({ length: 2 }, () => RawClient.connected(t, few.url)));
  const manyClients = await Promise.all(Array.from({ length: 200 }, () => RawClient.connected(t, many.url)));
  for (const client of [...fewClients, ...manyClients]) await client.subscribe('scores.live', 's');

  // Message frames as each edge received them: the core also sends its periodic mesh view on the same uplinks, and
  // counting every frame it sends made this test fail whenever a view went out during it.
  const frames = async (edge: typeof few): Promise<number> =>
    (await edge.metrics.messagesIn.get()).values[0]?.value ?? 0;
  const framesBefore = [await frames(few), await frames(many)];
  for (const proxy of mesh.proxies) proxy.resetCounters();

  const payload = 'x'.repeat(100);
  for (let i = 0; i < 50; i++) await publish(mesh.core, 'scores.live', payload);
  for (const client of [...fewClients, ...manyClients]) await client.messages(50);

  t.is((await frames(few)) - framesBefore[0]!, 50);
  t.is((await frames(many)) - framesBefore[1]!, 50);
  const [fewBytes, manyBytes] = mesh.proxies.map((proxy) => proxy.bytesFromTarget) as [number, number];
  t.is(manyBytes, fewBytes, 'core→edge bytes do not depend on the number of subscribers');
  // Framing, topic (11 bytes here), epoch and offset together cost at most 32 bytes a message on the WAN link.
  t.true(fewBytes / 50 <= payload.length + 32, `uplink bytes per message: ${fewBytes / 50}`);
});

test('a client resuming with since gets recovered: true and exactly the missed messages, on the same or the other edge', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];
  const first = await RawClient.connected(t, eu.url);
  const subok = await first.subscribe('chat.room-17', 1);
  for (let i = 1; i <= 3; i++) await publish(mesh.core, 'chat.room-17', `m${i}`);
  const seen = await first.messages(3);
  const last = seen[2]!;
  first.ws.close();
  await first.closed;
  for (let i = 4; i <= 8; i++) await publish(mesh.core, 'chat.room-17', `m${i}`);

  let newest = 8;
  for (const [edge, format] of [
    [eu, 'json'],
    [us, 'msgpack'],
    [eu, 'msgpack'],
  ] as const) {
    const again = await RawClient.connected(t, edge.url, format);
    const answer = await again.subscribe('chat.room-17', 'again', {
      epoch: last.epoch as string,
      offset: last.offset as number,
    });
    t.like(answer, { op: 'subok', recovered: true, epoch: subok.epoch, offset: newest });
    const missed = Array.from({ length: newest - 3 }, (_, i) => i + 4);
    const replayed = await again.messages(missed.length);
    t.deepEqual(offsetsOf(replayed), missed);
    t.deepEqual(
      replayed.slice(0, 5).map((op) => op.data),
      ['m4', 'm5', 'm6', 'm7', 'm8'],
    );
    // Live messages continue right after the replay.
    newest = (await publish(mesh.core, 'chat.room-17', 'live')).offset;
    const all = await again.messages(missed.length + 1);
    t.like(all[missed.length], { offset: newest, data: 'live' });
    t.is(all.length, missed.length + 1);
  }
});

test('an unknown epoch or an evicted range gives recovered: false and no replay', async (t) => {
  const mesh = await startMesh(t, { core: { history: { maxMessages: 5, maxAgeMs: 3_600_000 } } });
  const [eu, us] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];
  let position = { epoch: '', offset: 0 };
  for (let i = 1; i <= 20; i++) position = await publish(mesh.core, 'orders.eu.1', i);

  const stranger = await RawClient.connected(t, eu.url);
  const unknownEpoch = await stranger.subscribe('orders.eu.1', 1, { epoch: 'no-such-epoch', offset: 3 });
  t.like(unknownEpoch, { op: 'subok', recovered: false, epoch: position.epoch, offset: 20 });

  const late = await RawClient.connected(t, us.url);
  const evicted = await late.subscribe('orders.eu.1', 2, { epoch: position.epoch, offset: 2 });
  t.like(evicted, { op: 'subok', recovered: false, epoch: position.epoch, offset: 20 });

  const recent = await RawClient.connected(t, us.url);
  const held = await recent.subscribe('orders.eu.1', 3, { epoch: position.epoch, offset: 17 });
  t.like(held, { op: 'subok', recovered: true, offset: 20 });
  t.deepEqual(offsetsOf(await recent.messages(3)), [18, 19, 20]);

  await publish(mesh.core, 'orders.eu.1', 'next');
  for (const client of [stranger, late]) {
    const messages = await client.messages(1);
    t.deepEqual(offsetsOf(messages), [21], 'nothing replayed, live messages continue');
  }
});

test('pattern subscriptions receive the matching topics, with their concrete topic', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];
  const star = await RawClient.connected(t, eu.url);
  const rest = await RawClient.connected(t, us.url, 'msgpack');
  t.like(await star.subscribe('chat.*', 1), { op: 'subok', topic: 'chat.*', recovered: false });
  t.like(await rest.subscribe('orders.>', 1), { op: 'subok', topic: 'orders.>', recovered: false });

  const published = ['chat.a', 'chat.a.b', 'orders', 'orders.1', 'orders.eu.2', 'chat.b', 'other.x'];
  for (const topic of published) await publish(mesh.core, topic, topic);
  await publish(mesh.core, 'chat.end', 'end');
  await publish(mesh.core, 'orders.end', 'end');

  t.deepEqual(
    (await star.messages(3)).map((op) => op.topic),
    ['chat.a', 'chat.b', 'chat.end'],
  );
  t.deepEqual(
    (await rest.messages(3)).map((op) => op.topic),
    ['orders.1', 'orders.eu.2', 'orders.end'],
  );
});

test('a session with overlapping subscriptions receives each message once', async (t) => {
  const mesh = await startMesh(t);
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  await client.subscribe('news.>', 1);
  await client.subscribe('news.*', 2);
  await client.subscribe('news.sport', 3);
  await publish(mesh.core, 'news.sport', 1);
  await publish(mesh.core, 'news.sport.x', 2);
  await publish(mesh.core, 'news.end', 3);
  const messages = await client.messages(3);
  t.deepEqual(
    messages.map((op) => op.topic),
    ['news.sport', 'news.sport.x', 'news.end'],
  );
});

test('clients publish over the socket: puback after sequencing, delivered to subscribers on both edges', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];
  const publisher = await RawClient.connected(t, eu.url, 'msgpack');
  const listeners = [await RawClient.connected(t, eu.url), await RawClient.connected(t, us.url)];
  for (const listener of listeners) await listener.subscribe('chat.room-1', 1);
  publisher.send({ op: 'pub', id: 'p1', topic: 'chat.room-1', data: { text: 'hello' } });
  publisher.send({ op: 'pub', id: 'p2', topic: 'chat.room-1', data: new Uint8Array([1, 2, 3]) });
  t.like(await publisher.next((op) => op.id === 'p1'), { op: 'puback', offset: 1 });
  t.like(await publisher.next((op) => op.id === 'p2'), { op: 'puback', offset: 2 });
  for (const listener of listeners) {
    const [text, binary] = await listener.messages(2);
    t.deepEqual(text!.data, { text: 'hello' });
    t.like(binary, { enc: 'base64', data: Buffer.from([1, 2, 3]).toString('base64') });
  }
});

test('the last local unsubscribe removes the edge interest; the core stops sending', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const a = await RawClient.connected(t, edge.url);
  const b = await RawClient.connected(t, edge.url);
  await a.subscribe('t.1', 1);
  await b.subscribe('t.1', 1);
  const topics = async (): Promise<number> => (await edge.metrics.topics.get()).values[0]!.value;
  t.is(await topics(), 1);
  a.send({ op: 'unsub', id: 2, topic: 't.1' });
  t.like(await a.next((op) => op.id === 2), { op: 'unsubok' });
  t.is(await topics(), 1);
  b.send({ op: 'unsub', id: 2, topic: 't.1' });
  await b.next((op) => op.id === 2);
  t.is(await topics(), 0);
  const routed = async (): Promise<number> => (await mesh.core.metrics.routed.get()).values[0]?.value ?? 0;
  const before = await routed();
  await publish(mesh.core, 't.1', 'nobody');
  t.is(await routed(), before, 'no frame routed to an edge without interest');
});

test('adding an exact subscription under a pattern neither repeats nor skips a message', async (t) => {
  const mesh = await startMesh(t);
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  await client.subscribe('news.*', 1);
  const publishing = (async () => {
    for (let i = 1; i <= 40; i++) await publish(mesh.core, 'news.sport', i);
  })();
  // Subscribe while messages flow: the exact subscription takes over from the pattern at some offset.
  await client.messages(5);
  const answer = await client.subscribe('news.sport', 2);
  t.is(answer.op, 'subok');
  await publishing;
  const offsets = (await client.messages(40)).map((op) => op.offset);
  t.deepEqual(
    offsets,
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
});

test('a pub sent right after a sub, without waiting for subok, reaches the same client: uplink frames take effect in order', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const client = await RawClient.open(t, mesh.edges[0]!.url);
  client.send({ op: 'connect' });
  client.send({ op: 'sub', id: 's', topic: 'own.echo' });
  client.send({ op: 'pub', id: 'p', topic: 'own.echo', data: 'mine' });
  t.like(await client.next((op) => op.id === 's'), { op: 'subok', offset: 0 });
  t.like((await client.messages(1))[0], { topic: 'own.echo', offset: 1, data: 'mine' });
});
