// When an edge's uplink is cut, its clients stay connected; on reconnect the edge resubscribes from the
// positions it delivered and the core replays the gap once for all of them.

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';

test('clients keep their sockets through an uplink cut and receive every message once, in order', async (t) => {
  const mesh = await startMesh(t, {
    proxied: true,
    edge: { uplink: { heartbeatMs: 600_000, reconnectBaseMs: 10, reconnectMaxMs: 100 } },
  });
  const edge = mesh.edges[0]!;
  const clients = await Promise.all(
    Array.from({ length: 10 }, (_, i) => RawClient.connected(t, edge.url, i % 2 ? 'json' : 'msgpack')),
  );
  for (const client of clients) await client.subscribe('feed.main', 1);
  const pattern = await RawClient.connected(t, edge.url);
  await pattern.subscribe('feed.*', 1);

  const publish = (data: number) =>
    fetch(`${mesh.http(mesh.core)}/v1/publish`, { method: 'POST', body: JSON.stringify({ topic: 'feed.main', data }) });
  for (let i = 1; i <= 5; i++) await publish(i);
  for (const client of clients) await client.messages(5);

  const framesBefore = (await mesh.core.metrics.uplinkFramesSent.get()).values.find(
    (value) => value.labels.edge === edge.id,
  )!.value;
  const proxy = mesh.proxies[0]!;
  proxy.refuse(true);
  proxy.cut();
  // The core notices the edge is gone before the gap is published, so the replay is the only way to get it.
  await waitFor(() => !mesh.core.uplinks.has(edge.id), mesh);
  for (let i = 6; i <= 15; i++) await publish(i);
  proxy.refuse(false);
  await edge.ready();
  // A fresh subscription's answer comes after the core has taken the edge's resubscriptions (one ordered link).
  await clients[0]!.subscribe('barrier.x', 2);
  for (let i = 16; i <= 20; i++) await publish(i);

  const expected = Array.from({ length: 20 }, (_, i) => i + 1);
  for (const client of clients) {
    const messages = await client.messages(20);
    t.deepEqual(
      messages.map((op) => op.offset),
      expected,
    );
    t.deepEqual(
      messages.map((op) => op.data),
      expected,
    );
  }
  t.is(edge.sessionCount, 11, 'no client socket was closed');
  const framesAfter = (await mesh.core.metrics.uplinkFramesSent.get()).values.find(
    (value) => value.labels.edge === edge.id,
  )!.value;
  // 10 replayed + 5 live messages, plus welcome, three subok answers and the mesh view the edge joins: once for the
  // whole edge, not per client.
  t.is(framesAfter - framesBefore, 20);
  // Pattern subscriptions carry no position, so they resume with live messages only.
  t.deepEqual(
    (await pattern.messages(10)).slice(5).map((op) => op.offset),
    [16, 17, 18, 19, 20],
  );
});

/** Re-checks `condition` after each core event-loop turn that could change it, with a deadline. */
async function waitFor(condition: () => boolean, mesh: { core: { url: string } }): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await fetch(`${mesh.core.url.replace(/^ws/, 'http')}/healthz`);
  }
}
