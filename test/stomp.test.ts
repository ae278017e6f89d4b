// STOMP clients (the real @stomp/stompjs) on a running mesh: subscribe, publish with receipts, wildcard
// destinations, resume with relaymesh-since after a reconnect, and the same permissions as native clients.

import test from 'ava';
import { SignJWT } from 'jose';
import { startMesh } from './helpers/mesh.js';
import { connectStomp } from './helpers/stomp.js';
import { within } from './helpers/within.js';

test('subscribe, publish with receipts, MESSAGE headers, unsubscribe and disconnect', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const subscriber = await connectStomp(t, eu!.url);
  t.is(subscriber.connected.headers.version, '1.2');
  t.is(subscriber.connected.headers.server, 'relaymesh/eu-1');
  const { receipt, messages } = await subscriber.subscribe('/topic/chat.room-1', { id: 'room' });
  t.is(receipt.headers['relaymesh-recovered'], 'false');
  t.is(receipt.headers['relaymesh-position'], `${receipt.headers['relaymesh-position']!.split(':')[0]}:0`);

  const publisher = await connectStomp(t, us!.url);
  const sent = await publisher.publish('/topic/chat.room-1', 'hello: world', { 'content-type': 'text/plain' });
  t.truthy(sent.headers['receipt-id']);
  await publisher.publish('/topic/chat.room-1', JSON.stringify({ n: 2 }), { 'content-type': 'application/json' });

  const [first, second] = await messages.until(2);
  t.is(first!.body, 'hello: world');
  t.is(first!.headers.subscription, 'room');
  t.is(first!.headers.destination, '/topic/chat.room-1');
  t.regex(first!.headers['message-id']!, /^.+:1$/);
  t.is(first!.headers['content-type'], 'text/plain;charset=utf-8');
  t.is(first!.headers['content-length'], String(Buffer.byteLength('hello: world')));
  t.deepEqual(JSON.parse(second!.body), { n: 2 });
  t.is(second!.headers['content-type'], 'application/json');
  t.regex(second!.headers['message-id']!, /:2$/);

  // UNSUBSCRIBE with a receipt, then nothing more arrives on that subscription.
  const unsubscribed = new Promise((resolve) => subscriber.client.watchForReceipt('bye-room', resolve));
  subscriber.client.unsubscribe('room', { receipt: 'bye-room' });
  await within(unsubscribed, 'UNSUBSCRIBE receipt');
  const later = await subscriber.subscribe('/topic/chat.room-2');
  await publisher.publish('/topic/chat.room-1', 'unseen');
  await publisher.publish('/topic/chat.room-2', 'seen');
  t.is((await later.messages.until(1))[0]!.body, 'seen');
  t.is(messages.messages.length, 2);

  // DISCONNECT with a receipt closes cleanly.
  await subscriber.client.deactivate();
  t.is(await within(subscriber.closed, 'close after DISCONNECT'), 1000);
});

test('wildcard destinations: /topic/prices.* and /topic/prices.>', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const one = await (await connectStomp(t, eu!.url)).subscribe('/topic/prices.*');
  const many = await (await connectStomp(t, us!.url)).subscribe('/topic/prices.>');
  t.false('relaymesh-position' in one.receipt.headers);
  const publisher = await connectStomp(t, eu!.url);
  for (const topic of ['prices.eur', 'prices.eur.usd', 'other.eur', 'prices.usd'])
    await publisher.publish(`/topic/${topic}`, topic);
  t.deepEqual(
    (await one.messages.until(2)).map((m) => m.headers.destination),
    ['/topic/prices.eur', '/topic/prices.usd'],
  );
  t.deepEqual(
    (await many.messages.until(3)).map((m) => m.body),
    ['prices.eur', 'prices.eur.usd', 'prices.usd'],
  );
  await publisher.publish('/topic/prices.gbp', 'last');
  await one.messages.until(3);
  await many.messages.until(4);
  t.is(one.messages.messages.length, 3);
  t.is(many.messages.messages.length, 4);
});

test('resume after a reconnect with relaymesh-since: nothing lost, nothing twice', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const publisher = await connectStomp(t, us!.url);
  const first = await connectStomp(t, eu!.url);
  const before = await first.subscribe('/topic/orders.42');
  for (let i = 1; i <= 3; i++) await publisher.publish('/topic/orders.42', `m${i}`);
  const seen = await before.messages.until(3);
  const last = seen.at(-1)!.headers['message-id']!;
  await first.client.deactivate();
  for (let i = 4; i <= 6; i++) await publisher.publish('/topic/orders.42', `m${i}`);

  // Back on the other edge, from the last message-id received.
  const again = await connectStomp(t, us!.url);
  const after = await again.subscribe('/topic/orders.42', { 'relaymesh-since': last });
  t.is(after.receipt.headers['relaymesh-recovered'], 'true');
  await publisher.publish('/topic/orders.42', 'm7');
  const resumed = await after.messages.until(4);
  t.deepEqual(
    resumed.map((m) => m.body),
    ['m4', 'm5', 'm6', 'm7'],
  );
  t.deepEqual(
    resumed.map((m) => Number(m.headers['message-id']!.split(':').at(-1))),
    [4, 5, 6, 7],
  );
});

const secret = 'stomp-test-secret-that-is-long-enough-for-hs256';
process.env.RELAYMESH_STOMP_TEST_SECRET = secret;

test('tokens in passcode: a forbidden destination is refused with ERROR and close; a bad token too', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { tokens: { alg: 'HS256', secretEnv: 'RELAYMESH_STOMP_TEST_SECRET' } },
  });
  const edge = mesh.edges[0]!;
  const token = await new SignJWT({ topics: { subscribe: ['prices.>'], publish: ['prices.eur'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));

  const allowed = await connectStomp(t, edge.url, { passcode: token });
  const prices = await allowed.subscribe('/topic/prices.>');
  await allowed.publish('/topic/prices.eur', '1.08');
  t.is((await prices.messages.until(1))[0]!.body, '1.08');

  const viaHeader = await connectStomp(t, edge.url, { Authorization: `Bearer ${token}` });
  viaHeader.client.subscribe('/topic/secrets.x', () => t.fail('a forbidden subscription delivered'), {
    id: 'nope',
    receipt: 'r-nope',
  });
  const error = await within(viaHeader.stompError, 'ERROR for a forbidden SUBSCRIBE');
  t.regex(error.headers.message!, /does not allow/);
  t.is(error.headers['relaymesh-code'], 'forbidden');
  t.is(error.headers['receipt-id'], 'r-nope');
  t.is(await within(viaHeader.closed, 'close after ERROR'), 4400);

  const publishing = await connectStomp(t, edge.url, { passcode: token });
  publishing.client.publish({ destination: '/topic/prices.usd', body: 'x' });
  t.is((await within(publishing.stompError, 'ERROR for a forbidden SEND')).headers['relaymesh-code'], 'forbidden');

  await t.throwsAsync(connectStomp(t, edge.url, { passcode: 'not-a-token' }), { message: /STOMP ERROR|closed 4401/ });

  // The allowed client was not disturbed.
  await allowed.publish('/topic/prices.eur', '1.09');
  t.is((await prices.messages.until(2))[1]!.body, '1.09');
});
