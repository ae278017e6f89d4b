// Several cores sharing one Redis: one offset sequence per topic whichever core a message came through, failover
// between cores under steady publishing with nothing lost or repeated, and a restarted core that keeps history.

import { performance } from 'node:perf_hooks';
import test, { type ExecutionContext } from 'ava';
import { NodeMeshClient, type MeshMessage } from '../client/node.js';
import { startEdge } from '../edge/start-edge.js';
import type { MeshSnapshot } from '../shared/mesh-status.js';
import { collector } from './helpers/collector.js';
import { fastUplink, silentLogger } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { publisher } from './helpers/http-publish.js';
import { startRedisCore, uniquePrefix } from './helpers/redis-mesh.js';
import { RedisServer } from './helpers/redis-server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { within } from './helpers/within.js';

let redis: RedisServer;
test.before(async () => {
  redis = await RedisServer.launch();
});
test.after.always(() => redis?.stop());

async function edgeOn(t: ExecutionContext, id: string, cores: Array<{ id: string; url: string }>) {
  const edge = await startEdge({ id, region: 'eu', cores, uplink: fastUplink, logger: silentLogger });
  t.teardown(() => edge.close());
  await edge.ready();
  return edge;
}

function client(t: ExecutionContext, url: string): NodeMeshClient {
  const meshClient = new NodeMeshClient({ url, reconnect: { baseMs: 10, maxMs: 100 } });
  t.teardown(() => meshClient.close());
  return meshClient;
}

test('two cores, two edges, one Redis: publishes through either core reach both edges in order with one offset sequence', async (t) => {
  const prefix = uniquePrefix();
  const a = await startRedisCore(t, 'core-a', redis.url, prefix);
  const b = await startRedisCore(t, 'core-b', redis.url, prefix);
  const edgeA = await edgeOn(t, 'eu-1', [{ id: a.id, url: a.url }]);
  const edgeB = await edgeOn(t, 'us-1', [{ id: b.id, url: b.url }]);
  const onA = collector();
  const onB = collector();
  const onPattern = collector();
  await client(t, edgeA.url).subscribe('room.1', { onMessage: onA.onMessage });
  const both = client(t, edgeB.url);
  await both.subscribe('room.1', { onMessage: onB.onMessage });
  // The same edge (so the same core) also wants the topic through a pattern: the core still sends each message once.
  await client(t, edgeB.url).subscribe('room.*', { onMessage: onPattern.onMessage });

  const positions = [];
  for (let i = 1; i <= 30; i++) positions.push(await publisher(i % 2 ? a : b)('room.1', i));
  t.deepEqual(
    positions.map((position) => position.offset),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  t.is(new Set(positions.map((position) => position.epoch)).size, 1, 'one epoch, whichever core sequenced');
  for (const received of [onA, onB, onPattern]) {
    const messages = await received.until(30);
    t.deepEqual(
      messages.map((message) => message.offset),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    t.deepEqual(
      messages.map((message) => message.data),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    t.is(messages[0]!.epoch, positions[0]!.epoch);
  }
  // One extra message proves nothing more was on the way for the first 30.
  await publisher(a)('room.1', 31);
  for (const received of [onA, onB, onPattern]) t.is((await received.until(31)).length, 31);
  t.is(
    await counterValue(b.metrics.routed),
    31,
    'core-b routed each message once to its one edge, though two subscriptions matched',
  );
});

/**
 * Kills the core an edge uses in the middle of steady publishing: `clean` closes it (its uplinks get 4503), `crash`
 * resets every connection to it first, as when its process or host dies, with publishes in flight.
 */
async function failoverUnderLoad(t: ExecutionContext, kill: 'clean' | 'crash'): Promise<void> {
  const prefix = uniquePrefix();
  const a = await startRedisCore(t, 'core-a', redis.url, prefix);
  const b = await startRedisCore(t, 'core-b', redis.url, prefix);
  const proxy = await startTcpProxy({ target: a.address });
  t.teardown(() => proxy.close());
  const viaA = { id: a.id, url: kill === 'crash' ? proxy.url : a.url };
  const edge1 = await edgeOn(t, 'eu-1', [viaA, { id: b.id, url: b.url }]);
  const edge2 = await edgeOn(t, 'us-1', [{ id: b.id, url: b.url }, viaA]);
  t.is(edge1.uplink.coreId, 'core-a');

  const perPublisher = 150;
  const total = perPublisher * 2;
  const resets: string[] = [];
  let killedAt = 0;
  let highestAtKill = 0;
  let liveAgainAt = 0;
  const subscribers = await Promise.all(
    [edge1, edge2].map(async (edge) => {
      const received = collector();
      await client(t, edge.url).subscribe('ticks.eu', {
        onMessage: (message: MeshMessage) => {
          received.onMessage(message);
          if (edge === edge1 && killedAt > 0 && liveAgainAt === 0 && edge1.uplink.coreId === 'core-b')
            liveAgainAt = performance.now();
        },
        onReset: () => resets.push(edge.id),
      });
      return received;
    }),
  );

  let highest = 0;
  const publishing = [edge1, edge2].map(async (edge, p) => {
    const publisherClient = client(t, edge.url);
    const offsets: number[] = [];
    for (let i = 1; i <= perPublisher; i++) {
      const { offset } = await publisherClient.publish('ticks.eu', `p${p}-${i}`);
      offsets.push(offset);
      highest = Math.max(highest, offset);
      // The kill comes in the middle of the stream, while both publishers are busy.
      if (p === 1 && i === perPublisher / 3) {
        killedAt = performance.now();
        highestAtKill = highest;
        if (kill === 'crash') {
          proxy.refuse(true);
          proxy.cut();
        }
        void a.close();
      }
    }
    return offsets;
  });
  const offsets = (await within(Promise.all(publishing), 'publishing through the failover', 30_000)).flat();

  t.deepEqual(
    [...offsets].sort((x, y) => x - y),
    Array.from({ length: total }, (_, i) => i + 1),
    'every publish sequenced exactly once',
  );
  for (const received of subscribers) {
    const messages = await received.until(total);
    t.deepEqual(
      messages.map((message) => message.offset),
      Array.from({ length: total }, (_, i) => i + 1),
      'in order, none lost, none twice',
    );
    t.is(new Set(messages.map((message) => String(message.data))).size, total);
  }
  await publisher(b)('ticks.eu', 'last');
  for (const received of subscribers)
    t.is((await received.until(total + 1)).length, total + 1, 'nothing more than expected arrived');
  t.deepEqual(resets, []);
  t.is(edge1.uplink.coreId, 'core-b');
  const replayed = await counterValue(b.metrics.replayed);
  const failoverMs = Math.round(liveAgainAt - killedAt);
  t.log(
    `failover: ${failoverMs} ms from the kill to eu-1's client receiving its first message through core-b (${highestAtKill} messages sequenced before the kill); core-b replayed ${replayed} messages to eu-1`,
  );
  process.stdout.write(
    `[redis failover, ${kill}] time to fail over ${failoverMs} ms, messages replayed ${replayed}, messages ${total}, lost 0, duplicates 0, resets 0\n`,
  );
}

test('closing the core an edge uses under steady publishing loses nothing, repeats nothing, and resets nothing', (t) =>
  failoverUnderLoad(t, 'clean'));
test('a core that dies abruptly under steady publishing: nothing lost, nothing repeated, no reset', (t) =>
  failoverUnderLoad(t, 'crash'));

test('a restarted core on the same Redis keeps history: clients resubscribing with since recover', async (t) => {
  const prefix = uniquePrefix();
  const first = await startRedisCore(t, 'central', redis.url, prefix);
  const edge = await edgeOn(t, 'eu-1', [{ id: first.id, url: first.url }]);
  const stayed = collector();
  const resets: unknown[] = [];
  await client(t, edge.url).subscribe('orders.eu', {
    onMessage: stayed.onMessage,
    onReset: (position) => resets.push(position),
  });
  const positions = [];
  for (let i = 1; i <= 5; i++) positions.push(await publisher(first)('orders.eu', i));
  await stayed.until(5);

  await first.close();
  const second = await startRedisCore(t, 'central', redis.url, prefix, { listen: first.address });
  await edge.ready();
  const after = await publisher(second)('orders.eu', 6);
  t.deepEqual(after, { epoch: positions[0]!.epoch, offset: 6 }, 'the same epoch, offsets go on');
  t.deepEqual(
    (await stayed.until(6)).map((message) => message.data),
    [1, 2, 3, 4, 5, 6],
  );
  t.deepEqual(resets, [], 'the connected client was not reset');

  const resumed = await RawClient.connected(t, edge.url);
  const subok = await resumed.subscribe('orders.eu', 1, { epoch: positions[0]!.epoch, offset: 2 });
  t.like(subok, { op: 'subok', recovered: true, epoch: positions[0]!.epoch, offset: 6 });
  t.deepEqual(
    (await resumed.messages(4)).map((message) => message.offset),
    [3, 4, 5, 6],
  );
});

async function counterValue(metric: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await metric.get()).values.reduce((sum, value) => sum + value.value, 0);
}

test('cores sharing one Redis know every edge of the mesh: locate on any node finds an edge of another core', async (t) => {
  const prefix = uniquePrefix();
  // A share lives three periods: long enough that a loaded machine's late timers do not expire it between refreshes.
  const a = await startRedisCore(t, 'core-a', redis.url, prefix, { region: 'eu', statusMs: 300 });
  const b = await startRedisCore(t, 'core-b', redis.url, prefix, { region: 'us', statusMs: 300 });
  const eu = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: a.id, url: a.url }],
    uplink: { ...fastUplink, statusMs: 50 },
    logger: silentLogger,
  });
  t.teardown(() => eu.close());
  const us = await startEdge({
    id: 'us-1',
    region: 'us',
    cores: [{ id: b.id, url: b.url }],
    uplink: { ...fastUplink, statusMs: 50 },
    logger: silentLogger,
  });
  t.teardown(() => us.close());

  const knowsBoth = (snapshot: MeshSnapshot): boolean =>
    ['eu-1', 'us-1'].every((id) => snapshot.edges.some((edge) => edge.id === id && edge.healthy));
  const [viewOfA] = await Promise.all([
    a.meshUntil(knowsBoth),
    b.meshUntil(knowsBoth),
    eu.meshUntil(knowsBoth),
    us.meshUntil(knowsBoth),
  ]);
  t.like(
    viewOfA.edges.find((edge) => edge.id === 'us-1'),
    { core: 'core-b', region: 'us' },
  );
  t.deepEqual(viewOfA.cores.map((core) => core.id).sort(), ['core-a', 'core-b']);

  const located = async (node: { url: string }, region: string): Promise<unknown> =>
    (
      (await (
        await fetch(`${node.url.replace(/^ws/, 'http')}/v1/locate?region=${region}`, {
          headers: { accept: 'application/json' },
        })
      ).json()) as { edge: string }
    ).edge;
  t.is(await located(a, 'us'), 'us-1', "core-a sends us clients to core-b's edge");
  t.is(await located(eu, 'us'), 'us-1', 'and so does its edge');
  t.is(await located(b, 'eu'), 'eu-1');

  // A core that goes away takes its edges out of the others' views once its share expires.
  await b.close();
  await a.meshUntil((snapshot) => !snapshot.cores.some((core) => core.id === 'core-b'));
  t.is(await located(a, 'us'), 'eu-1');
});
