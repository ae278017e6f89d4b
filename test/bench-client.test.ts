// The benchmark's raw WebSocket client against a real edge: setup steps, frames counted without decoding,
// probes reading stamps back, and resets on close.

import test from 'ava';
import { RawWsClient } from '../bench/raw-ws-client.js';
import { wires } from '../bench/wires.js';
import { startMesh } from './helpers/mesh.js';

test('a raw client subscribes through the relaymesh wire and counts every delivery', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const wire = wires.relaymesh;
  const connect = () =>
    RawWsClient.connect({
      host: edge.address.host,
      port: edge.address.port,
      path: wire.subscriberPath,
      protocol: wire.protocol,
    });
  const counter = await connect();
  const probe = await connect();
  t.teardown(() => {
    counter.close();
    probe.close();
  });
  await counter.setup(wire.subscribe('bench.t'));
  await probe.setup(wire.subscribe('bench.t'));
  t.is(counter.frames, 0, 'setup frames are not counted as load');

  const stamps: number[] = [];
  const all = new Promise<void>((resolve) => {
    probe.onPayload = (payload) => {
      const stamp = wire.stampOf(payload.toString());
      if (stamp) stamps.push(stamp.seq);
      if (stamps.length === 20) resolve();
    };
  });
  const publisher = await RawWsClient.connect({
    host: edge.address.host,
    port: edge.address.port,
    path: wire.publisherPath,
    protocol: wire.protocol,
  });
  t.teardown(() => publisher.close());
  await publisher.setup(wire.openPublisher());
  for (let seq = 1; seq <= 20; seq++)
    publisher.sendText(wire.publish('bench.t', { seq, t: performance.now() }, 'x'.repeat(2000)));
  await all;
  t.deepEqual(
    stamps,
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  // The counting client sees the same 20 frames, and their bytes, without decoding any.
  await counter.whenFrames(20);
  t.is(counter.frames, 20);
  t.true(counter.bytes > 20 * 2000);
});
