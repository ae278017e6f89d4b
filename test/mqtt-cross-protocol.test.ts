// A native client, a STOMP client and MQTT clients (3.1.1 and 5) on two different edges share one topic, and
// payloads keep their kind across protocols: JSON stays JSON, text stays text, binary stays binary.

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { connectMqtt } from './helpers/mqtt.js';
import { RawClient } from './helpers/raw-client.js';
import { connectStomp } from './helpers/stomp.js';

test('native, STOMP and MQTT clients on two edges exchange messages with payloads preserved', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const native = await RawClient.connected(t, eu!.url, 'msgpack');
  await native.subscribe('mixed.topic', 1);
  const stomp = await connectStomp(t, us!.url);
  const { messages: stompMessages } = await stomp.subscribe('/topic/mixed.topic');
  const mqtt5 = await connectMqtt(t, us!.url, { protocolVersion: 5 });
  await mqtt5.client.subscribeAsync('mixed/topic', { qos: 1 });
  const mqtt4 = await connectMqtt(t, eu!.url, { protocolVersion: 4 });
  await mqtt4.client.subscribeAsync('mixed/+', { qos: 0 });

  // native → everyone
  const binary = new Uint8Array([0, 1, 0, 255, 10]);
  for (const [i, data] of [{ price: 1.08 }, 'plain text', binary].entries()) {
    native.send({ op: 'pub', id: `n${i}`, topic: 'mixed.topic', data });
    await native.next((op) => op.id === `n${i}` && op.op === 'puback');
  }
  const five = await mqtt5.until(3);
  t.deepEqual(JSON.parse(five[0]!.payload.toString()), { price: 1.08 });
  t.is(five[0]!.packet.properties?.contentType, 'application/json');
  t.is(five[1]!.payload.toString(), 'plain text');
  t.is(five[1]!.packet.properties?.contentType, 'text/plain;charset=utf-8');
  t.true(five[1]!.packet.properties?.payloadFormatIndicator);
  t.deepEqual(new Uint8Array(five[2]!.payload), binary);
  t.is(five[2]!.packet.properties?.contentType, 'application/octet-stream');
  t.deepEqual(
    (await mqtt4.until(3)).map((r) => [...r.payload]),
    [[...Buffer.from('{"price":1.08}')], [...Buffer.from('plain text')], [...binary]],
  );

  // MQTT 5 → native and STOMP, the content type saying what the payload is
  await mqtt5.client.publishAsync('mixed/topic', JSON.stringify({ from: 'mqtt5' }), {
    qos: 1,
    properties: { contentType: 'application/json' },
  });
  await mqtt5.client.publishAsync('mixed/topic', Buffer.from('{"not":"json"}'), {
    qos: 1,
    properties: { contentType: 'text/plain' },
  });
  await mqtt5.client.publishAsync('mixed/topic', Buffer.from([255, 0, 254]), {
    qos: 1,
    properties: { contentType: 'application/octet-stream' },
  });
  // MQTT 3.1.1 → native and STOMP: no content types, so JSON if it parses, text if UTF-8, else binary
  await mqtt4.client.publishAsync('mixed/topic', '[1,2,3]', { qos: 1 });
  await mqtt4.client.publishAsync('mixed/topic', 'hello from 3.1.1', { qos: 1 });
  await mqtt4.client.publishAsync('mixed/topic', Buffer.from([0xc3, 0x28]), { qos: 1 });
  // STOMP → MQTT
  await stomp.publish('/topic/mixed.topic', JSON.stringify({ from: 'stomp' }), { 'content-type': 'application/json' });

  const fromOthers = (await native.messages(10)).slice(3).map((op) => op.data);
  t.deepEqual(fromOthers[0], { from: 'mqtt5' });
  t.is(fromOthers[1], '{"not":"json"}');
  t.deepEqual(new Uint8Array(fromOthers[2] as Uint8Array), new Uint8Array([255, 0, 254]));
  t.deepEqual(fromOthers[3], [1, 2, 3]);
  t.is(fromOthers[4], 'hello from 3.1.1');
  t.deepEqual(new Uint8Array(fromOthers[5] as Uint8Array), new Uint8Array([0xc3, 0x28]));
  t.deepEqual(fromOthers[6], { from: 'stomp' });

  const stompGot = (await stompMessages.until(10)).slice(3);
  t.deepEqual(
    stompGot.map((m) => m.headers['content-type']),
    [
      'application/json',
      'text/plain;charset=utf-8',
      'application/octet-stream',
      'application/json',
      'text/plain;charset=utf-8',
      'application/octet-stream',
      'application/json',
    ],
  );
  t.deepEqual(JSON.parse(stompGot[0]!.body), { from: 'mqtt5' });
  t.deepEqual(new Uint8Array(stompGot[5]!.binaryBody), new Uint8Array([0xc3, 0x28]));

  const fiveLater = (await mqtt5.until(10)).slice(3);
  t.deepEqual(JSON.parse(fiveLater[6]!.payload.toString()), { from: 'stomp' });
  t.is(fiveLater[6]!.packet.properties?.contentType, 'application/json');
  t.is(fiveLater[3]!.packet.properties?.contentType, 'application/json');
  t.is(fiveLater[5]!.packet.properties?.contentType, 'application/octet-stream');
});
