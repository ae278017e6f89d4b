// MQTT clients that break the protocol are closed (MQTT 5: DISCONNECT with a reason code first), counted in metrics,
// without disturbing anyone else; size limits hold before and after CONNECT; packets may span or share messages.

import test from 'ava';
import { generate, type IConnackPacket, type IDisconnectPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import { startMesh } from './helpers/mesh.js';
import { RawMqtt, connectMqtt } from './helpers/mqtt.js';
import { RawClient } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

const garbage = (
  version: 4 | 5,
): Array<{ title: string; connect: boolean; wire: Buffer; code: number; reason: number }> => [
  {
    title: 'a remaining length over four bytes',
    connect: true,
    wire: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
    code: 4400,
    reason: 0x81,
  },
  { title: 'a reserved packet type', connect: true, wire: Buffer.from([0x00, 0x00]), code: 4400, reason: 0x81 },
  { title: 'a truncated SUBSCRIBE', connect: true, wire: Buffer.from([0x82, 0x01, 0x00]), code: 4400, reason: 0x81 },
  {
    title: 'a SUBSCRIBE without filters',
    connect: true,
    wire: Buffer.from([0x82, 0x02, 0x00, 0x01]),
    code: 4400,
    reason: 0x82,
  },
  {
    title: 'an UNSUBSCRIBE without filters',
    connect: true,
    wire: Buffer.from([0xa2, 0x02, 0x00, 0x01]),
    code: 4400,
    reason: 0x82,
  },
  {
    title: 'a second CONNECT',
    connect: true,
    wire: generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'x',
      keepalive: 0,
    }),
    code: 4400,
    reason: 0x82,
  },
  {
    title: 'a server packet from the client',
    connect: true,
    wire: generate({ cmd: 'suback', messageId: 1, granted: [0] }, { protocolVersion: version }),
    code: 4400,
    reason: 0x82,
  },
  {
    title: 'a PUBLISH to a name with a wildcard (QoS 0)',
    connect: true,
    wire: generate(
      { cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, dup: false, retain: false },
      { protocolVersion: version },
    ),
    code: 4400,
    reason: 0x90,
  },
  {
    title: 'a PUBREL (QoS 2)',
    connect: true,
    wire: generate({ cmd: 'pubrel', messageId: 1 }, { protocolVersion: version }),
    code: 4400,
    reason: 0x9b,
  },
  {
    title: 'a SUBSCRIBE before CONNECT',
    connect: false,
    wire: generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }).subarray(0, 3),
    code: 4400,
    reason: -1,
  },
  { title: 'not MQTT at all', connect: false, wire: Buffer.from('hello'), code: 4400, reason: -1 },
];

for (const version of [4, 5] as const) {
  test(`v${version}: malformed and misplaced packets close the connection; bystanders are undisturbed`, async (t) => {
    const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
    const edge = mesh.edges[0]!;
    const bystander = await connectMqtt(t, edge.url, { protocolVersion: version });
    await bystander.client.subscribeAsync('calm/topic', { qos: 1 });
    const native = await RawClient.connected(t, edge.url);
    await native.subscribe('calm.topic', 1);

    for (const [i, refusal] of garbage(version).entries()) {
      const raw = refusal.connect
        ? await RawMqtt.connected(t, edge.url, version)
        : await RawMqtt.open(t, edge.url, version);
      raw.ws.send(refusal.wire);
      t.is((await within(raw.closed, `close for ${refusal.title}`)).code, refusal.code, refusal.title);
      const disconnect = raw.packets.find((packet) => packet.cmd === 'disconnect') as IDisconnectPacket | undefined;
      if (version === 5 && refusal.reason >= 0) t.is(disconnect?.reasonCode, refusal.reason, refusal.title);
      else t.is(disconnect, undefined, refusal.title);

      await bystander.client.publishAsync('calm/topic', `still here ${i}`, { qos: 1 });
      t.is((await bystander.until(i + 1))[i]!.payload.toString(), `still here ${i}`);
      t.is((await native.next((op) => op.op === 'msg')).data, `still here ${i}`);
    }
    const metrics = await edge.metrics.registry.metrics();
    t.regex(metrics, /relaymesh_edge_protocol_errors_total\{protocol="mqtt",[^}]*\} \d+/);
    t.regex(metrics, /relaymesh_edge_connections_total\{transport="websocket",protocol="mqtt",[^}]*\} \d+/);
  });
}

test('an unsupported protocol level gets CONNACK 1 and a close', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const raw = await RawMqtt.open(t, mesh.edges[0]!.url);
  raw.send({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, clientId: 'old', keepalive: 0 });
  t.is(((await raw.next((packet) => packet.cmd === 'connack')) as IConnackPacket).returnCode, 1);
  t.is((await within(raw.closed, 'close')).code, 4400);
});

test('packets over the size limit close with 1009 (MQTT 5: DISCONNECT 0x95), before and after CONNECT', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxMessageBytes: 1024 } },
  });
  const edge = mesh.edges[0]!;
  // After CONNECT: a PUBLISH announcing more than maxMessageBytes plus header room, sent in pieces.
  const connected = await RawMqtt.connected(t, edge.url, 5);
  const big = generate(
    { cmd: 'publish', topic: 'a', payload: Buffer.alloc(40_000), qos: 0, dup: false, retain: false },
    { protocolVersion: 5 },
  );
  connected.ws.send(big.subarray(0, 10));
  t.is((await within(connected.closed, 'close')).code, 1009);
  t.is((connected.packets.find((packet) => packet.cmd === 'disconnect') as IDisconnectPacket).reasonCode, 0x95);
  // Before CONNECT a stranger gets the pre-connect room (4096), even in small pieces.
  const stranger = await RawMqtt.open(t, edge.url);
  const connect = generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: 'x'.repeat(5000),
    keepalive: 0,
  });
  for (let i = 0; i < 3; i++) stranger.ws.send(connect.subarray(i * 1000, (i + 1) * 1000));
  t.is((await within(stranger.closed, 'close')).code, 1009);
  // Within the limits everything is fine.
  const fine = await connectMqtt(t, edge.url);
  await fine.client.subscribeAsync('a');
  await fine.client.publishAsync('a', Buffer.alloc(900, 7), { qos: 1 });
  t.is((await fine.until(1))[0]!.payload.length, 900);
});

test('packets split across WebSocket messages and packed into one are all understood', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const raw = await RawMqtt.open(t, mesh.edges[0]!.url, 5);
  const packets: Packet[] = [
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'packed', keepalive: 0 },
    {
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'a/b', qos: 1 },
        { topic: '$share/g/a', qos: 0 },
        { topic: 'a//b', qos: 0 },
      ],
    },
    {
      cmd: 'publish',
      topic: 'a/b',
      payload: Buffer.from([1, 2, 3]),
      qos: 1,
      messageId: 2,
      dup: false,
      retain: false,
      properties: { contentType: 'application/octet-stream' },
    },
    { cmd: 'pingreq' },
  ];
  const wire = Buffer.concat(packets.map((packet) => generate(packet, { protocolVersion: 5 })));
  for (let i = 0; i < wire.length; i += 7) raw.ws.send(wire.subarray(i, i + 7));
  const publish = (await raw.next((packet) => packet.cmd === 'publish')) as Extract<Packet, { cmd: 'publish' }>;
  t.deepEqual([...(publish.payload as Buffer)], [1, 2, 3]);
  t.is(publish.properties?.contentType, 'application/octet-stream');
  await raw.next((packet) => packet.cmd === 'pingresp');
  // Shared subscriptions and empty levels are refused per filter (0x9E, 0x8F); the connection stays.
  t.deepEqual((raw.packets.find((packet) => packet.cmd === 'suback') as ISubackPacket).granted, [1, 0x9e, 0x8f]);
  // The PUBACK (once the core sequenced it) and the message itself may arrive in either order.
  await raw.next((packet) => packet.cmd === 'puback');
  // The CONNACK comes first (MQTT-3.2.0-1), even though the PINGREQ needed no session and was answered at once.
  t.deepEqual(
    raw.packets
      .map((packet) => packet.cmd)
      .filter((cmd) => cmd !== 'publish')
      .sort(),
    ['connack', 'pingresp', 'puback', 'suback'],
  );
  t.is(raw.packets[0]!.cmd, 'connack');
});
