// Surviving the loss of a core or an edge: a restarted in-memory core resets its streams, an edge fails over to
// its disaster-recovery core and back, and a draining edge moves its clients to another edge without a loss.

import test from 'ava';
import { NodeMeshClient, type MeshMessage } from '../client/node.js';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { publisher } from './helpers/http-publish.js';
import { fastUplink, restartableCore, silentLogger } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';

test('a restarted in-memory core resets its streams: subscribers get reset, then messages continue', async (t) => {
  const { core: first, edge, restartCore } = await restartableCore(t);
  const client = await RawClient.connected(t, edge.url);
  await client.subscribe('prices.eur-usd', 1);
  const before = await publisher(first)('prices.eur-usd', 'before');
  await client.messages(1);

  const second = await restartCore();

  const reset = await client.next((op) => op.op === 'reset');
  t.not(reset.epoch, before.epoch, 'a new epoch: the history is gone');
  t.like(reset, { topic: 'prices.eur-usd', offset: 0 });
  const after = await publisher(second)('prices.eur-usd', 'after');
  const messages = await client.messages(2);
  t.like(messages[1], { epoch: after.epoch, offset: 1, data: 'after' });
  t.is(edge.sessionCount, 1, 'the client stayed connected');
});

test('an edge fails over to its disaster-recovery core when the primary dies, and back when it returns', async (t) => {
  const primary = await startCore({ id: 'primary', logger: silentLogger });
  const recovery = await startCore({ id: 'recovery', logger: silentLogger });
  t.teardown(() => recovery.close());
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    uplink: fastUplink,
    logger: silentLogger,
    cores: [
      { id: 'primary', url: primary.url },
      { id: 'recovery', url: recovery.url },
    ],
  });
  t.teardown(() => edge.close());
  await edge.ready();
  t.is(edge.uplink.coreId, 'primary');
  const client = await RawClient.connected(t, edge.url);
  await client.subscribe('orders.eu', 1);
  await publisher(primary)('orders.eu', 'on primary');
  await client.messages(1);

  await primary.close();
  const toRecovery = await client.next((op) => op.op === 'reset');
  t.is(edge.uplink.coreId, 'recovery');
  await publisher(recovery)('orders.eu', 'on recovery');
  t.like((await client.messages(2))[1], { data: 'on recovery', epoch: toRecovery.epoch });

  const restarted = await startCore({ id: 'primary', listen: primary.address, logger: silentLogger });
  t.teardown(() => restarted.close());
  const back = await client.next((op) => op.op === 'reset');
  t.is(edge.uplink.coreId, 'primary');
  await publisher(restarted)('orders.eu', 'primary again');
  t.like((await client.messages(3))[2], { data: 'primary again', epoch: back.epoch });
  t.is(edge.sessionCount, 1, 'the client stayed connected through both moves');
  t.false(recovery.uplinks.has('eu-1'), 'the edge left the recovery core');
});

test('draining an edge under load moves its clients to another edge with no message lost', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const cores = [{ id: 'central', url: core.url }];
  const target = await startEdge({ id: 'eu-2', region: 'eu', cores, uplink: fastUplink, logger: silentLogger });
  t.teardown(() => target.close());
  const other = await startEdge({ id: 'us-1', region: 'us', cores, uplink: fastUplink, logger: silentLogger });
  t.teardown(() => other.close());
  const draining = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores,
    uplink: fastUplink,
    logger: silentLogger,
    // The region's other edge comes first, though the topology lists us-1 first.
    peers: [
      { id: 'us-1', url: other.url, region: 'us' },
      { id: 'eu-2', url: target.url, region: 'eu' },
    ],
  });
  t.teardown(() => draining.close());
  await Promise.all([target.ready(), other.ready(), draining.ready()]);

  const total = 200;
  const clients = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const client = new NodeMeshClient({ url: draining.url, reconnect: { baseMs: 10, maxMs: 100 } });
      t.teardown(() => client.close());
      const received: MeshMessage[] = [];
      let wake: (() => void) | undefined;
      await client.subscribe('chat.room-17', {
        onMessage: (message) => {
          received.push(message);
          if (received.length >= total) wake?.();
        },
      });
      const done = new Promise<void>((resolve) => {
        wake = resolve;
        if (received.length >= total) resolve();
      });
      return { client, received, done };
    }),
  );

  const publish = publisher(core);
  let drained: Promise<void> | undefined;
  for (let i = 1; i <= total; i++) {
    await publish('chat.room-17', i);
    if (i === total / 2) drained = draining.drain();
  }
  await drained;
  await Promise.all(clients.map(({ done }) => done));

  for (const { client, received } of clients) {
    t.deepEqual(
      received.map((message) => message.data),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    t.is(client.welcome?.edge, 'eu-2');
  }
  t.is(draining.sessionCount, 0);
  const health = await fetch(`${draining.url.replace(/^ws/, 'http')}/healthz`);
  t.is(health.status, 503);
  t.like(await health.json(), { status: 'unavailable', reason: 'draining' });
});
