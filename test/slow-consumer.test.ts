// A client that stops reading is closed with 4508 once its outbox passes the cap; the other clients of the
// edge keep receiving every message.

import test from 'ava';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';

test('a slow consumer is closed with 4508 and nobody else loses a message', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { outboxMaxBytes: 256 * 1024 } },
  });
  const edge = mesh.edges[0]!;
  const slow = await RawClient.connected(t, edge.url);
  const healthy = await RawClient.connected(t, edge.url, 'msgpack');
  await slow.subscribe('video.frames', 1);
  await healthy.subscribe('video.frames', 1);
  slow.ws.pause();

  const slowConsumers = async (): Promise<number> => (await edge.metrics.slowConsumers.get()).values[0]?.value ?? 0;
  const chunk = 'x'.repeat(100_000);
  let published = 0;
  // Kernel buffers absorb a few MB first; the bound keeps the test finite if the cap never triggers.
  while ((await slowConsumers()) === 0 && published < 2000) {
    const response = await fetch(`${mesh.http(mesh.core)}/v1/publish`, {
      method: 'POST',
      body: JSON.stringify({ topic: 'video.frames', data: chunk }),
    });
    t.is(response.status, 200);
    published++;
  }
  t.is(await slowConsumers(), 1, `closed after ${published} messages`);

  slow.ws.resume();
  t.is((await slow.closed).code, 4508);
  const received = await healthy.messages(published);
  t.deepEqual(
    received.map((op) => op.offset),
    Array.from({ length: published }, (_, i) => i + 1),
  );
});

test('slow consumers together hold at most limits.outboxTotalMaxBytes: past it the furthest behind are cut first', async (t) => {
  // Each alone would be allowed 32 MiB; together they get 1 MiB beyond what the kernel buffers.
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { outboxMaxBytes: 32 * 1024 * 1024, outboxTotalMaxBytes: 1024 * 1024 } },
  });
  const edge = mesh.edges[0]!;
  const healthy = await RawClient.connected(t, edge.url, 'msgpack');
  await healthy.subscribe('crowd.t', 1);
  const slow = await Promise.all(Array.from({ length: 4 }, () => RawClient.connected(t, edge.url)));
  for (const client of slow) {
    await client.subscribe('crowd.t', 1);
    client.ws.pause();
  }
  const slowConsumers = async (): Promise<number> => (await edge.metrics.slowConsumers.get()).values[0]?.value ?? 0;
  const chunk = 'x'.repeat(100_000);
  let published = 0;
  // 25 MB at most: far below one client's own cap, far above the kernel's buffers.
  while ((await slowConsumers()) === 0 && published < 250) {
    t.is(
      (
        await fetch(`${mesh.http(mesh.core)}/v1/publish`, {
          method: 'POST',
          body: JSON.stringify({ topic: 'crowd.t', data: chunk }),
        })
      ).status,
      200,
    );
    published++;
  }
  t.true((await slowConsumers()) >= 1, `cut after ${published} messages of 100 kB`);
  t.true(published < 250);
  const received = await healthy.messages(published);
  t.deepEqual(
    received.map((op) => op.offset),
    Array.from({ length: published }, (_, i) => i + 1),
  );
});
