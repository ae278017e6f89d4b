// MQTT clients through a lost stream history (they stay connected and messages go on: MQTT has no way to say
// continuity was lost) and a draining edge (MQTT 5: DISCONNECT "use another server" with the peer, or "server
// shutting down"; then 4503).

import test from 'ava';
import type { IDisconnectPacket } from 'mqtt-packet';
import { startEdge } from '../edge/start-edge.js';
import { publisher } from './helpers/http-publish.js';
import { restartableCore, silentLogger, startMesh } from './helpers/mesh.js';
import { RawMqtt, connectMqtt } from './helpers/mqtt.js';
import { RawClient } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

test('a restarted in-memory core: the MQTT client stays connected and messages go on', async (t) => {
  const { core: first, edge, restartCore } = await restartableCore(t);
  const native = await RawClient.connected(t, edge.url);
  await native.subscribe('prices.eur', 1);
  const mqtt = await connectMqtt(t, edge.url, { protocolVersion: 5 });
  await mqtt.client.subscribeAsync('prices/eur', { qos: 1 });
  await publisher(first)('prices.eur', 'before');
  await mqtt.until(1);

  const second = await restartCore();
  await within(
    native.next((op) => op.op === 'reset'),
    'native reset',
  );
  await publisher(second)('prices.eur', 'after');
  t.deepEqual(
    (await mqtt.until(2)).map((r) => r.payload.toString()),
    ['before', 'after'],
  );
  t.true(mqtt.client.connected);
});

test('a draining edge sends MQTT 5 clients to its peer (DISCONNECT 0x9C with the Server Reference) and closes 3.1.1 ones, then 4503', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'us-1', region: 'us' }] });
  const peer = mesh.edges[0]!;
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: 'central', url: mesh.core.url }],
    peers: [{ id: peer.id, region: 'us', url: peer.url }],
    limits: { drainGraceMs: 100 },
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();
  const five = await RawMqtt.connected(t, edge.url, 5);
  const four = await RawMqtt.connected(t, edge.url, 4);
  void edge.drain();
  const disconnect = (await five.next((packet) => packet.cmd === 'disconnect')) as IDisconnectPacket;
  t.is(disconnect.reasonCode, 0x9c);
  t.is(disconnect.properties?.serverReference, `${peer.url}/v1/ws`);
  t.is((await within(five.closed, 'close')).code, 4503);
  t.is((await within(four.closed, 'close')).code, 4503);
  t.false(four.packets.some((packet) => packet.cmd === 'disconnect'));
});

test('a draining edge without a peer: MQTT 5 DISCONNECT 0x8B (server shutting down), then 4503', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { limits: { drainGraceMs: 100 } } });
  const raw = await RawMqtt.connected(t, mesh.edges[0]!.url, 5);
  void mesh.edges[0]!.drain();
  t.is(((await raw.next((packet) => packet.cmd === 'disconnect')) as IDisconnectPacket).reasonCode, 0x8b);
  t.is((await within(raw.closed, 'close')).code, 4503);
});
