// MQTT's `a/#` matches `a` itself (3.1.1 §4.7.1.2) although relaymesh's `>` does not: the real mqtt.js client, 3.1.1
// and 5, gets the parent's messages, its retained message and its resumed gap, once even when it holds `a` as well.

import test from 'ava';
import { SignJWT } from 'jose';
import { startMesh } from './helpers/mesh.js';
import { connectMqtt, type MqttTestClient, type Received } from './helpers/mqtt.js';

const payloads = (from: MqttTestClient | Received[]): string[][] =>
  ('received' in from ? from.received : from).map((r) => [r.topic, r.payload.toString()]);

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: a/# gets the messages of a and of a/x/y in order, with one SUBACK code; unsubscribing stops both`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const subscriber = await connectMqtt(t, eu!.url, { protocolVersion });
    const granted = await subscriber.client.subscribeAsync({ 'home/#': { qos: 1 }, marker: { qos: 0 } });
    t.deepEqual(
      granted.map((g) => [g.topic, g.qos]),
      [
        ['home/#', 1],
        ['marker', 0],
      ],
    );
    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    const sent = [
      ['home/x/y', 'm1'],
      ['home', 'm2'],
      ['home/x/y', 'm3'],
      ['home', 'm4'],
    ];
    for (const [topic, payload] of sent) await publisher.client.publishAsync(topic!, payload!, { qos: 1 });
    await subscriber.until(4);
    t.deepEqual(payloads(subscriber), sent);
    t.true(subscriber.received.every((r) => r.packet.qos === 1 && !r.packet.retain));

    await subscriber.client.unsubscribeAsync('home/#');
    for (const topic of ['home', 'home/x/y']) await publisher.client.publishAsync(topic, 'unseen', { qos: 1 });
    // The marker comes after the unseen messages on the same stream from the core: once it is in, they would be too.
    await publisher.client.publishAsync('marker', 'end', { qos: 1 });
    await subscriber.until(5);
    t.deepEqual(payloads(subscriber).slice(4), [['marker', 'end']]);
  });

  test(`v${protocolVersion}: a and a/# together deliver each message of a once, at the higher QoS; either alone goes on after the other ends`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    // Both orders: the exact filter first (the companion shares it), and the pattern first (the filter takes the companion over).
    const exactFirst = await connectMqtt(t, eu!.url, { protocolVersion });
    await exactFirst.client.subscribeAsync('room', { qos: 0 });
    await exactFirst.client.subscribeAsync('room/#', { qos: 1 });
    const patternFirst = await connectMqtt(t, eu!.url, { protocolVersion });
    t.deepEqual(
      (await patternFirst.client.subscribeAsync('room/#', { qos: 0 })).map((g) => g.qos),
      [0],
    );
    t.deepEqual(
      (await patternFirst.client.subscribeAsync('room', { qos: 1 })).map((g) => g.qos),
      [1],
    );

    await publisher.client.publishAsync('room', 'r1', { qos: 1 });
    await publisher.client.publishAsync('room/desk', 'd1', { qos: 1 });
    for (const client of [exactFirst, patternFirst]) {
      await client.until(2);
      t.deepEqual(payloads(client), [
        ['room', 'r1'],
        ['room/desk', 'd1'],
      ]);
      t.is(client.received[0]!.packet.qos, 1, 'the highest QoS of the matching filters');
    }

    // Without a/#, a stays (at its own QoS); without a, a/# still covers a.
    await exactFirst.client.unsubscribeAsync('room/#');
    await patternFirst.client.unsubscribeAsync('room');
    await publisher.client.publishAsync('room/desk', 'd2', { qos: 1 });
    await publisher.client.publishAsync('room', 'r2', { qos: 1 });
    await exactFirst.until(3);
    await patternFirst.until(4);
    t.deepEqual(payloads(exactFirst).slice(2), [['room', 'r2']]);
    t.is(exactFirst.received[2]!.packet.qos, 0);
    t.deepEqual(payloads(patternFirst).slice(2), [
      ['room/desk', 'd2'],
      ['room', 'r2'],
    ]);
    t.is(patternFirst.received[3]!.packet.qos, 0);

    // a is no filter of its own when only a/# holds it: unsubscribing it leaves a/# whole.
    await patternFirst.client.unsubscribeAsync('room');
    await publisher.client.publishAsync('room', 'r3', { qos: 1 });
    t.deepEqual(payloads(await patternFirst.until(5)).slice(4), [['room', 'r3']]);
  });

  test(`v${protocolVersion}: a persistent session with a/# resumes what was published to a while away`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const persistent = {
      protocolVersion,
      clientId: `parent-${protocolVersion}`,
      clean: false,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    };
    const first = await connectMqtt(t, eu!.url, persistent);
    await first.client.subscribeAsync('orders/#', { qos: 1 });
    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    await publisher.client.publishAsync('orders', 'o1', { qos: 1 });
    await first.until(1);
    await first.client.endAsync();

    for (const n of [2, 3]) await publisher.client.publishAsync('orders', `o${n}`, { qos: 1 });
    const again = await connectMqtt(t, eu!.url, persistent);
    t.true(again.connack!.sessionPresent);
    t.deepEqual(payloads(await again.until(2)), [
      ['orders', 'o2'],
      ['orders', 'o3'],
    ]);
    // The pattern came back too (live), and the companion goes on live after its replay.
    await publisher.client.publishAsync('orders/9', 'n1', { qos: 1 });
    await publisher.client.publishAsync('orders', 'o4', { qos: 1 });
    t.deepEqual(payloads(await again.until(4)).slice(2), [
      ['orders/9', 'n1'],
      ['orders', 'o4'],
    ]);
  });

  test(`v${protocolVersion}: subscribing to a/# delivers the retained message of a`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    await publisher.client.publishAsync('lamp', 'on', { qos: 1, retain: true });
    await publisher.client.publishAsync('lamp/2', 'off', { qos: 1, retain: true });
    const subscriber = await connectMqtt(t, eu!.url, { protocolVersion });
    await subscriber.client.subscribeAsync('lamp/#', { qos: 1 });
    const [retained] = await subscriber.until(1);
    // Only the parent's: relaymesh has no index of the topics under a pattern (README).
    t.deepEqual([retained!.topic, retained!.payload.toString(), retained!.packet.retain], ['lamp', 'on', true]);
    await publisher.client.publishAsync('lamp', 'dim', { qos: 1 });
    const [, live] = await subscriber.until(2);
    t.deepEqual([live!.topic, live!.payload.toString(), live!.packet.retain], ['lamp', 'dim', false]);
  });
}

const secret = 'mqtt-parent-filter-secret-long-enough-for-hs256';
process.env.RELAYMESH_MQTT_PARENT_SECRET = secret;

test('a/# is granted when the token allows a.> but not a: the parent is simply not delivered', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { tokens: { alg: 'HS256', secretEnv: 'RELAYMESH_MQTT_PARENT_SECRET' } },
  });
  const edge = mesh.edges[0]!;
  const token = await new SignJWT({ topics: { subscribe: ['feed.>'], publish: ['feed', 'feed.>'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
  const client = await connectMqtt(t, edge.url, { protocolVersion: 5, username: 'any', password: token });
  t.deepEqual(
    (await client.client.subscribeAsync('feed/#', { qos: 1 })).map((g) => g.qos),
    [1],
  );
  await client.client.publishAsync('feed', 'parent', { qos: 1 });
  await client.client.publishAsync('feed/a', 'child', { qos: 1 });
  t.deepEqual(payloads(await client.until(1)), [['feed/a', 'child']]);
});
