// MQTT clients (the real mqtt.js, 3.1.1 and 5) on a running mesh: subscribe and publish at QoS 0 and 1, `+` and
// `#` filters, retained messages, persistent sessions resumed after a reconnect, wills, keep-alive.

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawMqtt, connectMqtt } from './helpers/mqtt.js';
import { RawClient } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: subscribe and publish at QoS 0 and 1 across edges, PUBACK once sequenced`, async (t) => {
    const mesh = await startMesh(t);
    const [eu, us] = mesh.edges;
    const subscriber = await connectMqtt(t, eu!.url, { protocolVersion });
    const granted = await subscriber.client.subscribeAsync({ 'chat/room-1': { qos: 1 }, 'chat/room-2': { qos: 0 } });
    t.deepEqual(granted.map((g) => [g.topic, g.qos]), [['chat/room-1', 1], ['chat/room-2', 0]]);

    const publisher = await connectMqtt(t, us!.url, { protocolVersion });
    // At QoS 1 mqtt.js resolves once the PUBACK came, which the edge sends once the core sequenced the message.
    await publisher.client.publishAsync('chat/room-1', 'hello', { qos: 1 });
    await publisher.client.publishAsync('chat/room-2', '{"n":2}', { qos: 0 });
    const got = await subscriber.until(2);
    t.deepEqual(got.map((r) => [r.topic, r.payload.toString(), r.packet.qos, r.packet.retain]), [
      ['chat/room-1', 'hello', 1, false],
      ['chat/room-2', '{"n":2}', 0, false],
    ]);
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
    for (const topic of ['prices/eur', 'prices/eur/usd', 'other/eur', 'prices/usd']) await publisher.client.publishAsync(topic, topic, { qos: 1 });
    t.deepEqual((await one.until(2)).map((r) => r.topic), ['prices/eur', 'prices/usd']);
    t.deepEqual((await many.until(3)).map((r) => r.payload.toString()), ['prices/eur', 'prices/eur/usd', 'prices/usd']);
    t.is(one.received[0]!.packet.qos, 1);
    t.is(many.received[0]!.packet.qos, 0);
  });
}
