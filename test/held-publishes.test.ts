// Publishes while an edge has no core: held (bounded in count and time) and answered once the core is back, and
// a publish resent after a lost acknowledgement is answered with its first position, never sequenced twice.

import test, { type ExecutionContext } from 'ava';
import { startCore, type CoreHandle } from '../core/start-core.js';
import type { EdgeHandle } from '../edge/start-edge.js';
import type { Address } from '../shared/topology.js';
import { silentLogger, startMesh, type Mesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';

/** No pings and no liveness sweeps unless a test asks: these tests stop the core on purpose. */
const quietUplink = { heartbeatMs: 600_000, reconnectBaseMs: 10, reconnectMaxMs: 50 };
const quietCore = { uplinkTimeoutMs: 600_000 };

/**
 * Re-checks `condition` after each round trip to `node`'s /healthz, so it is re-evaluated as the nodes' event loops
 * move on, without sleeping; fails after a deadline.
 */
async function until(condition: () => boolean, node: { url: string }, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  const health = `${node.url.replace(/^ws/, 'http')}/healthz`;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await (await fetch(health)).arrayBuffer();
  }
}

/** Stops the mesh's core and waits until every edge has noticed; returns the address to restart it on. */
async function stopCore(mesh: Mesh): Promise<Address> {
  const address = mesh.core.address;
  await mesh.core.close();
  for (const edge of mesh.edges) await until(() => !edge.uplink.connected, edge, `${edge.id} notices the core is gone`);
  return address;
}

async function restartCore(t: ExecutionContext, address: Address): Promise<CoreHandle> {
  const core = await startCore({ id: 'central', listen: address, logger: silentLogger, ...quietCore });
  t.teardown(() => core.close());
  return core;
}

/** Every op received so far that answers request `id`. */
function answersTo(client: RawClient, id: string | number): Op[] {
  return client.received.filter((op) => op.id === id);
}

function waitHeld(edge: EdgeHandle, count: number): Promise<void> {
  return until(() => edge.uplink.unacknowledgedPublishes === count, edge, `${count} publishes held on ${edge.id}`);
}

test('a pub while the core is gone is held and acknowledged once the core is back; subscribers get it once', async (t) => {
  const mesh = await startMesh(t, { proxied: true, core: quietCore, edge: { uplink: quietUplink } });
  const [publishingEdge, subscribingEdge] = mesh.edges as [EdgeHandle, EdgeHandle];
  const subscriber = await RawClient.connected(t, subscribingEdge.url);
  await subscriber.subscribe('held.topic', 'sub');
  const publisher = await RawClient.connected(t, publishingEdge.url, 'msgpack');

  // The publishing edge comes back last, so the subscribing edge's interest is on the new core before the publish.
  mesh.proxies[0]!.refuse(true);
  const address = await stopCore(mesh);
  publisher.send({ op: 'pub', id: 'p1', topic: 'held.topic', data: { n: 1 } });
  await waitHeld(publishingEdge, 1);
  t.deepEqual(answersTo(publisher, 'p1'), [], 'no answer while the core is gone');

  const core = await restartCore(t, address);
  await subscribingEdge.ready();
  // Its answer comes after the core has taken the edge's resubscriptions (one ordered link).
  t.is((await subscriber.subscribe('barrier.topic', 'barrier')).op, 'subok');
  mesh.proxies[0]!.refuse(false);

  const { epoch } = await core.engine.position('held.topic');
  t.like(await publisher.next((op) => op.id === 'p1'), { op: 'puback', epoch, offset: 1 });
  publisher.send({ op: 'pub', id: 'p2', topic: 'held.topic', data: { n: 2 } });
  t.like(await publisher.next((op) => op.id === 'p2'), { op: 'puback', epoch, offset: 2 });

  const messages = await subscriber.messages(2);
  t.deepEqual(
    messages.map((op) => [op.epoch, op.offset, op.data]),
    [
      [epoch, 1, { n: 1 }],
      [epoch, 2, { n: 2 }],
    ],
  );
  t.is(answersTo(publisher, 'p1').length, 1);
  t.is(publishingEdge.uplink.unacknowledgedPublishes, 0);
});

test('limits.maxHeldPublishes: with the core gone, publishes beyond the bound are refused unavailable at once', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    core: quietCore,
    edge: { uplink: quietUplink, limits: { maxHeldPublishes: 2, publishHoldMs: 600_000 } },
  });
  const edge = mesh.edges[0]!;
  const client = await RawClient.connected(t, edge.url);
  const address = await stopCore(mesh);

  for (const id of [1, 2, 3]) client.send({ op: 'pub', id, topic: 'bounded.topic', data: id });
  t.like(await client.next((op) => op.id === 3), { op: 'error', id: 3, code: 'unavailable' });
  t.deepEqual(answersTo(client, 1), []);
  t.deepEqual(answersTo(client, 2), []);
  t.is(edge.uplink.unacknowledgedPublishes, 2);

  // The two that waited are sequenced once the core is back; the refused one never was.
  const core = await restartCore(t, address);
  t.like(await client.next((op) => op.id === 1), { op: 'puback', offset: 1 });
  t.like(await client.next((op) => op.id === 2), { op: 'puback', offset: 2 });
  t.is((await core.engine.position('bounded.topic')).offset, 2);
});

test('limits.publishHoldMs: a pub held for longer than the bound is answered unavailable', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    core: quietCore,
    edge: { uplink: quietUplink, limits: { publishHoldMs: 300 } },
  });
  const edge = mesh.edges[0]!;
  const client = await RawClient.connected(t, edge.url);
  await stopCore(mesh);

  client.send({ op: 'pub', id: 'late', topic: 'hold.topic', data: 'x' });
  t.like(await client.next((op) => op.id === 'late'), { op: 'error', id: 'late', code: 'unavailable' });
  t.is(edge.uplink.unacknowledgedPublishes, 0);
});

test('POST /v1/publish to an edge whose core comes back within publishHoldMs answers 200 with the position', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    core: quietCore,
    edge: { uplink: quietUplink, limits: { publishHoldMs: 600_000 } },
  });
  const edge = mesh.edges[0]!;
  const address = await stopCore(mesh);

  const response = fetch(`${mesh.http(edge)}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'http.topic', data: { via: 'http' } }),
  });
  await waitHeld(edge, 1);
  const core = await restartCore(t, address);

  const answer = await response;
  t.is(answer.status, 200);
  const { epoch } = await core.engine.position('http.topic');
  t.deepEqual(await answer.json(), { epoch, offset: 1 });
  const stored = await core.engine.read('http.topic', epoch, 1, 1);
  t.is(stored?.length, 1);
});

test('a pub whose puback is lost is resent after the reconnect and answered with the same position, sequenced once', async (t) => {
  const mesh = await startMesh(t, {
    proxied: true,
    edge: { uplink: { heartbeatMs: 250, reconnectBaseMs: 10, reconnectMaxMs: 50 } },
  });
  const [publishingEdge, subscribingEdge] = mesh.edges as [EdgeHandle, EdgeHandle];
  const proxy = mesh.proxies[0]!;
  const subscriber = await RawClient.connected(t, subscribingEdge.url);
  const subok = await subscriber.subscribe('dedupe.topic', 'sub');
  const publisher = await RawClient.connected(t, publishingEdge.url);
  // A loaded machine may miss a heartbeat this short: whichever uplink the core holds once the edge is up is the old one.
  await until(
    () => publishingEdge.uplink.connected && mesh.core.uplinks.has(publishingEdge.id),
    mesh.core,
    'the publishing edge is connected',
  );
  const oldUplink = mesh.core.uplinks.get(publishingEdge.id);

  // Core → edge goes dark the moment the core sequences the publish (the engine calls its listeners synchronously,
  // before the puback is flushed): its puback never comes back, and no pong does either. Going dark before the
  // publish instead would let the heartbeat drop the link before the publish got through on a busy machine.
  mesh.core.engine.onMessage((message) => {
    if (message.topic === 'dedupe.topic' && message.offset === 1) proxy.blackhole(true, 'fromTarget');
  });
  publisher.send({ op: 'pub', id: 'once', topic: 'dedupe.topic', data: 'first' });
  const [first] = await subscriber.messages(1);
  t.like(first, { op: 'msg', topic: 'dedupe.topic', epoch: subok.epoch, offset: 1, data: 'first' });

  // The edge's heartbeat gives up on the link and drops it; the core sees that old uplink go. New connections
  // through the proxy are dark as well, so the way back opens only now.
  await until(
    () => mesh.core.uplinks.get(publishingEdge.id) !== oldUplink,
    mesh.core,
    'the old uplink is gone from the core',
  );
  t.deepEqual(answersTo(publisher, 'once'), [], 'the first puback was lost');
  proxy.blackhole(false);

  t.like(await publisher.next((op) => op.id === 'once'), { op: 'puback', epoch: subok.epoch, offset: 1 });
  publisher.send({ op: 'pub', id: 'marker', topic: 'dedupe.topic', data: 'marker' });
  t.like(await publisher.next((op) => op.id === 'marker'), { op: 'puback', epoch: subok.epoch, offset: 2 });

  const messages = await subscriber.messages(2);
  t.deepEqual(
    messages.map((op) => [op.offset, op.data]),
    [
      [1, 'first'],
      [2, 'marker'],
    ],
  );
  t.is(answersTo(publisher, 'once').length, 1);
  t.is((await mesh.core.engine.position('dedupe.topic')).offset, 2);
  t.not(mesh.core.uplinks.get(publishingEdge.id), oldUplink);
});
