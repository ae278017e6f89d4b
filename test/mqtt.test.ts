// MQTT clients (the real mqtt.js, 3.1.1 and 5) on a running mesh: subscribe and publish at QoS 0 and 1, `+` and
// `#` filters, retained messages, persistent sessions resumed after a reconnect, wills, keep-alive.

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawMqtt, connectMqtt } from './helpers/mqtt.js';
import { RawClient } from './helpers/raw-client.js';
import { within } from './helpers/within.js';
import { SignJWT } from 'jose';
import { generate, type IConnackPacket, type IDisconnectPacket, type IPubackPacket, type Packet } from 'mqtt-packet';

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: subscribe and publish at QoS 0 and 1 across edges, PUBACK once sequenced`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const subscriber = await connectMqtt(t, eu!.url, { protocolVersion });
    const granted = await subscriber.client.subscribeAsync({ 'chat/room-1': { qos: 1 }, 'chat/room-2': { qos: 0 } });
    t.deepEqual(
      granted.map((g) => [g.topic, g.qos]),
      [
        ['chat/room-1', 1],
        ['chat/room-2', 0],
      ],
    );

    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    // At QoS 1 mqtt.js resolves once the PUBACK came, which the edge sends once the core sequenced the message.
    await publisher.client.publishAsync('chat/room-1', 'hello', { qos: 1 });
    await publisher.client.publishAsync('chat/room-2', '{"n":2}', { qos: 0 });
    const got = await subscriber.until(2);
    t.deepEqual(
      got.map((r) => [r.topic, r.payload.toString(), r.packet.qos, r.packet.retain]),
      [
        ['chat/room-1', 'hello', 1, false],
        ['chat/room-2', '{"n":2}', 0, false],
      ],
    );
    if (protocolVersion === 5) {
      t.is(got[0]!.packet.properties?.contentType, 'text/plain;charset=utf-8');
      t.is(got[1]!.packet.properties?.contentType, 'application/json');
    }

    // A native subscriber sees the same messages, JSON as JSON.
    const native = await RawClient.connected(t, us!.url);
    await native.subscribe('chat.room-2', 1);
    await publisher.client.publishAsync('chat/room-2', '{"n":3}', { qos: 1 });
    t.deepEqual((await native.next((op) => op.op === 'msg')).data, { n: 3 });

    await subscriber.client.unsubscribeAsync('chat/room-1');
    await publisher.client.publishAsync('chat/room-1', 'unseen', { qos: 1 });
    await publisher.client.publishAsync('chat/room-2', 'seen', { qos: 1 });
    const after = await subscriber.until(4);
    t.is(after[3]!.payload.toString(), 'seen');
    t.is(after.length, 4);
  });

  test(`v${protocolVersion}: + and # filters`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const one = await connectMqtt(t, eu!.url, { protocolVersion });
    await one.client.subscribeAsync('prices/+', { qos: 1 });
    const many = await connectMqtt(t, us!.url, { protocolVersion });
    await many.client.subscribeAsync('prices/#', { qos: 0 });
    const publisher = await connectMqtt(t, eu!.url, { protocolVersion });
    for (const topic of ['prices/eur', 'prices/eur/usd', 'other/eur', 'prices/usd'])
      await publisher.client.publishAsync(topic, topic, { qos: 1 });
    t.deepEqual(
      (await one.until(2)).map((r) => r.topic),
      ['prices/eur', 'prices/usd'],
    );
    t.deepEqual(
      (await many.until(3)).map((r) => r.payload.toString()),
      ['prices/eur', 'prices/eur/usd', 'prices/usd'],
    );
    t.is(one.received[0]!.packet.qos, 1);
    t.is(many.received[0]!.packet.qos, 0);
  });
}

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: a subscription to a topic gets its newest message as the retained one; an empty one clears it`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    await publisher.client.publishAsync('lamp/1/state', 'on', { qos: 1, retain: true });
    await publisher.client.publishAsync('lamp/1/state', 'off', { qos: 1, retain: true });

    const subscriber = await connectMqtt(t, eu!.url, { protocolVersion });
    await subscriber.client.subscribeAsync('lamp/1/state', { qos: 1 });
    const [retained] = await subscriber.until(1);
    t.deepEqual([retained!.payload.toString(), retained!.packet.retain], ['off', true]);
    await publisher.client.publishAsync('lamp/1/state', 'dim', { qos: 1 });
    const [, live] = await subscriber.until(2);
    t.deepEqual([live!.payload.toString(), live!.packet.retain], ['dim', false]);

    // An empty retained message clears it: a new subscriber gets nothing until the next message.
    await publisher.client.publishAsync('lamp/1/state', '', { qos: 1, retain: true });
    t.is((await subscriber.until(3))[2]!.payload.length, 0);
    const late = await connectMqtt(t, eu!.url, { protocolVersion });
    await late.client.subscribeAsync('lamp/1/state', { qos: 0 });
    await publisher.client.publishAsync('lamp/1/state', 'bright', { qos: 1 });
    const [first] = await late.until(1);
    t.deepEqual([first!.payload.toString(), first!.packet.retain], ['bright', false]);
    if (protocolVersion === 5) {
      // Retain handling 2: no retained message on subscribe.
      const none = await connectMqtt(t, us!.url, { protocolVersion });
      await none.client.subscribeAsync('lamp/1/state', { qos: 1, rh: 2 });
      await publisher.client.publishAsync('lamp/1/state', 'last', { qos: 1 });
      t.is((await none.until(1))[0]!.payload.toString(), 'last');
    }
  });

  test(`v${protocolVersion}: a persistent session resumes after a reconnect: what was published meanwhile is replayed, nothing lost`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const clientId = `persistent-${protocolVersion}`;
    const persistent = {
      protocolVersion,
      clientId,
      clean: false,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    };
    const first = await connectMqtt(t, eu!.url, persistent);
    t.false(first.connack!.sessionPresent);
    await first.client.subscribeAsync({ 'orders/42': { qos: 1 }, 'orders/+/note': { qos: 0 } });
    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    await publisher.client.publishAsync('orders/42', 'm1', { qos: 1 });
    await first.until(1);
    await first.client.endAsync();

    for (const n of [2, 3, 4]) await publisher.client.publishAsync('orders/42', `m${n}`, { qos: 1 });
    const again = await connectMqtt(t, eu!.url, persistent);
    t.true(again.connack!.sessionPresent);
    const replayed = await again.until(3);
    t.deepEqual(
      replayed.map((r) => r.payload.toString()),
      ['m2', 'm3', 'm4'],
    );
    t.true(replayed.every((r) => r.packet.qos === 1));
    // The pattern subscription came back too (live from here on).
    await publisher.client.publishAsync('orders/7/note', 'n1', { qos: 1 });
    await publisher.client.publishAsync('orders/42', 'm5', { qos: 1 });
    t.deepEqual(
      (await again.until(5)).slice(3).map((r) => r.payload.toString()),
      ['n1', 'm5'],
    );

    // A clean session starts afresh and drops what was kept.
    await again.client.endAsync();
    const clean = await connectMqtt(t, eu!.url, { ...persistent, clean: true });
    t.false(clean.connack!.sessionPresent);
  });

  test(`v${protocolVersion}: a second connection with the same client id takes over`, async (t) => {
    const mesh = await startMesh(t);
    const edge = mesh.edges[0]!;
    const older = await connectMqtt(t, edge.url, { protocolVersion, clientId: 'twin' });
    const disconnected = new Promise<IDisconnectPacket>((resolve) => older.client.once('disconnect', resolve));
    await connectMqtt(t, edge.url, { protocolVersion, clientId: 'twin' });
    await within(older.closed, 'the older connection closed');
    if (protocolVersion === 5) t.is((await within(disconnected, 'DISCONNECT')).reasonCode, 0x8e);
    else t.pass();
  });

  test(`v${protocolVersion}: the will is published when a client goes without DISCONNECT, and not after one`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const watcher = await connectMqtt(t, us!.url, { protocolVersion });
    await watcher.client.subscribeAsync('devices/+/status', { qos: 1 });
    const will = { topic: 'devices/dev-1/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true };
    const polite = await RawMqtt.connected(t, eu!.url, protocolVersion, {
      clientId: 'dev-0',
      will: { ...will, topic: 'devices/dev-0/status' },
    } as Partial<Packet>);
    polite.send({ cmd: 'disconnect' }, protocolVersion);
    await within(polite.closed, 'close after DISCONNECT');
    const abrupt = await RawMqtt.connected(t, eu!.url, protocolVersion, { clientId: 'dev-1', will } as Partial<Packet>);
    abrupt.ws.terminate();
    const [got] = await watcher.until(1);
    t.deepEqual([got!.topic, got!.payload.toString()], ['devices/dev-1/status', 'offline']);
    // The will is the newest message of its topic, so it is also what a later subscriber gets as retained.
    const later = await connectMqtt(t, us!.url, { protocolVersion });
    await later.client.subscribeAsync('devices/dev-1/status');
    t.true((await later.until(1))[0]!.packet.retain);
  });

  test(`v${protocolVersion}: a client silent for 1.5 keep-alive periods is dropped, and its will published`, async (t) => {
    const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
    const edge = mesh.edges[0]!;
    const watcher = await connectMqtt(t, edge.url, { protocolVersion });
    await watcher.client.subscribeAsync('devices/+/status', { qos: 1 });
    const silent = await RawMqtt.connected(t, edge.url, protocolVersion, {
      keepalive: 1,
      will: { topic: 'devices/quiet/status', payload: Buffer.from('lost'), qos: 0, retain: false },
    } as Partial<Packet>);
    const { code } = await within(silent.closed, 'close after the keep-alive');
    t.is(code, 1001);
    if (protocolVersion === 5)
      t.is((silent.packets.find((p) => p.cmd === 'disconnect') as IDisconnectPacket | undefined)?.reasonCode, 0x8d);
    t.is((await watcher.until(1))[0]!.payload.toString(), 'lost');
    // PINGREQ is answered with PINGRESP (what keeps an idle client within its keep-alive).
    const pinging = await RawMqtt.connected(t, edge.url, protocolVersion);
    pinging.send({ cmd: 'pingreq' }, protocolVersion);
    await pinging.next((p) => p.cmd === 'pingresp');
  });

  test(`v${protocolVersion}: QoS 2 is refused by closing (MQTT 5: DISCONNECT 0x9B); subscriptions asking for 2 are granted 1`, async (t) => {
    const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
    const edge = mesh.edges[0]!;
    const raw = await RawMqtt.connected(t, edge.url, protocolVersion);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 2 }] }, protocolVersion);
    const suback = await raw.next((p) => p.cmd === 'suback');
    t.deepEqual((suback as { granted: number[] }).granted, [1]);
    raw.send(
      { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 2, messageId: 2, dup: false, retain: false },
      protocolVersion,
    );
    t.is((await within(raw.closed, 'close')).code, 4400);
    if (protocolVersion === 5)
      t.is((raw.packets.find((p) => p.cmd === 'disconnect') as IDisconnectPacket).reasonCode, 0x9b);
  });
}

const secret = 'mqtt-test-secret-that-is-long-enough-for-hs256';
process.env.RELAYMESH_MQTT_TEST_SECRET = secret;

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: the token in the password; a forbidden filter gets a SUBACK failure and the connection stays; a bad token gets CONNACK 4 / 0x86`, async (t) => {
    const mesh = await startMesh(t, {
      edges: [{ id: 'eu-1', region: 'eu' }],
      edge: { tokens: { alg: 'HS256', secretEnv: 'RELAYMESH_MQTT_TEST_SECRET' } },
    });
    const edge = mesh.edges[0]!;
    const token = await new SignJWT({ topics: { subscribe: ['prices.>'], publish: ['prices.eur'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    // 3.1.1 sends a password only with a user name; relaymesh ignores the user name.
    const client = await connectMqtt(t, edge.url, { protocolVersion, username: 'any', password: token });
    // One SUBACK answers both filters: the forbidden one with a failure code (mqtt.js then rejects), the other granted.
    const refused = await t.throwsAsync(
      client.client.subscribeAsync({ 'secrets/x': { qos: 1 }, 'prices/#': { qos: 1 } }),
    );
    t.deepEqual((refused as Error & { packet: { granted: number[] } }).packet.granted, [
      protocolVersion === 5 ? 0x87 : 0x80,
      1,
    ]);
    await client.client.publishAsync('prices/eur', '1.08', { qos: 1 });
    t.is((await client.until(1))[0]!.payload.toString(), '1.08');

    if (protocolVersion === 5) {
      // MQTT 5 refuses a QoS 1 PUBLISH in place, with a reason code; the connection stays.
      const refused = await t.throwsAsync(client.client.publishAsync('prices/usd', 'x', { qos: 1 }));
      t.regex(refused!.message, /135|not authorized|does not allow/i);
      await client.client.publishAsync('prices/eur', '1.09', { qos: 1 });
      t.is((await client.until(2))[1]!.payload.toString(), '1.09');
      // PUBACKs come in the order of the PUBLISHes, refusals (answered at once) included.
      const raw = await RawMqtt.connected(t, edge.url, 5, {
        username: 'any',
        password: Buffer.from(token),
      } as Partial<Packet>);
      const publish = (messageId: number, topic: string): Buffer =>
        generate(
          { cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId, dup: false, retain: false },
          { protocolVersion: 5 },
        );
      raw.ws.send(Buffer.concat([publish(10, 'prices/eur'), publish(11, 'prices/usd'), publish(12, 'prices//eur')]));
      await raw.next((p) => p.cmd === 'puback' && p.messageId === 12);
      t.deepEqual(
        raw.packets.filter((p) => p.cmd === 'puback').map((p) => [p.messageId, (p as IPubackPacket).reasonCode]),
        [
          [10, 0],
          [11, 0x87],
          [12, 0x90],
        ],
      );
    } else {
      // 3.1.1 has no way to refuse a PUBLISH but closing the connection.
      client.client.publish('prices/usd', 'x', { qos: 1 });
      await within(client.closed, 'close after a forbidden PUBLISH');
      t.pass();
    }

    const raw = await RawMqtt.open(t, edge.url, protocolVersion);
    raw.send(
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion,
        clean: true,
        clientId: 'bad',
        keepalive: 0,
        username: 'any',
        password: Buffer.from('not-a-token'),
      },
      protocolVersion,
    );
    const connack = (await raw.next((p) => p.cmd === 'connack')) as IConnackPacket;
    t.is(protocolVersion === 5 ? connack.reasonCode : connack.returnCode, protocolVersion === 5 ? 0x86 : 4);
    t.is((await within(raw.closed, 'close after a refused CONNECT')).code, 4401);
  });
}

test('a persistent session delivers again the QoS 1 messages that were not acknowledged before the connection dropped', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const session = { clientId: 'forgetful', clean: false } as Partial<Packet>;
  const first = await RawMqtt.connected(t, edge.url, 4, session);
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'jobs/1', qos: 1 }] });
  await first.next((p) => p.cmd === 'suback');
  const publisher = await connectMqtt(t, edge.url);
  for (const n of [1, 2, 3]) await publisher.client.publishAsync('jobs/1', `j${n}`, { qos: 1 });
  const delivered = (await first.next((p) => p.cmd === 'publish' && p.payload.toString() === 'j3')) as Extract<
    Packet,
    { cmd: 'publish' }
  >;
  // Acknowledge j1 only, then drop the connection.
  const j1 = first.packets.find((p) => p.cmd === 'publish' && p.payload.toString() === 'j1') as Extract<
    Packet,
    { cmd: 'publish' }
  >;
  t.not(j1.messageId, delivered.messageId);
  first.send({ cmd: 'puback', messageId: j1.messageId! });
  // The PINGRESP comes after the edge has read the PUBACK sent before it on the same socket.
  first.send({ cmd: 'pingreq' });
  await first.next((p) => p.cmd === 'pingresp');
  await publisher.client.publishAsync('jobs/1', 'j4', { qos: 1 });
  await first.next((p) => p.cmd === 'publish' && p.payload.toString() === 'j4');
  first.ws.terminate();
  await within(first.closed, 'dropped');

  const again = await RawMqtt.connected(t, edge.url, 4, session);
  t.true((again.packets[0] as IConnackPacket).sessionPresent);
  await again.next((p) => p.cmd === 'publish' && p.payload.toString() === 'j4');
  t.deepEqual(
    again.packets
      .filter((p) => p.cmd === 'publish')
      .map((p) => (p as Extract<Packet, { cmd: 'publish' }>).payload.toString()),
    ['j2', 'j3', 'j4'],
  );
});
