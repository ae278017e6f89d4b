// Presence (docs/protocol.md §9) across the edges of one core: joins and leaves as sessions subscribe, unsubscribe,
// close or lose their edge; `presence` and GET /v1/presence; bad input; rights; the event cap; the SDK.

import test, { type ExecutionContext } from 'ava';
import { NodeMeshClient, type PresenceMember } from '../client/node.js';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { askPresence, isEvent, listen, sessionOf } from './helpers/presence.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { startCore, type CoreOptions } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import { fastUplink, silentLogger } from './helpers/mesh.js';
import { within } from './helpers/within.js';

/** A core, a fault proxy in front of it, and edges on a fast uplink that reach the core directly or through it. */
async function coreBehindProxy(t: ExecutionContext, options: Partial<CoreOptions> = {}) {
  const core = await startCore({ id: 'central', logger: silentLogger, ...options });
  t.teardown(() => core.close());
  const proxy = await startTcpProxy({ target: core.address });
  t.teardown(() => proxy.close());
  const edge = async (id: string, throughProxy: boolean): Promise<EdgeHandle> => {
    const url = throughProxy ? proxy.url : core.url;
    const started = await startEdge({
      id,
      region: 'eu',
      cores: [{ id: 'central', url }],
      uplink: fastUplink,
      logger: silentLogger,
    });
    t.teardown(() => started.close());
    await started.ready();
    return started;
  };
  return { proxy, edge };
}

test('joins and leaves cross edges: subscribe, unsubscribe, a closed socket; presence counts them all', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const watcher = await RawClient.connected(t, eu!.url);
  await listen(watcher, 'room.1');
  const watcherSession = sessionOf(watcher);
  // The watcher's own join comes back too: every member of the topic is announced to every listener.
  await watcher.next(isEvent('join', watcherSession));

  const other = await RawClient.connected(t, us!.url);
  const otherSession = sessionOf(other);
  await other.subscribe('room.1', 1);
  const join = await watcher.next(isEvent('join', otherSession));
  t.like(join, { op: 'join', topic: 'room.1', session: otherSession, edge: 'us-1' });
  t.false('user' in join, 'anonymous sessions have no user');

  const answer = await askPresence(other, 'room.1', 'p1');
  t.like(answer, { op: 'presenceok', id: 'p1', topic: 'room.1', count: 2 });
  t.deepEqual((answer.members as Array<{ session: string; edge: string }>).map((member) => member.edge).sort(), [
    'eu-1',
    'us-1',
  ]);

  other.send({ op: 'unsub', id: 2, topic: 'room.1' });
  t.like(await watcher.next(isEvent('leave', otherSession)), { topic: 'room.1', edge: 'us-1' });
  t.like(await askPresence(watcher, 'room.1', 'p2'), { count: 1 });

  await other.subscribe('room.1', 3);
  await watcher.next(isEvent('join', otherSession));
  other.ws.terminate();
  await watcher.next(isEvent('leave', otherSession));

  const http = await fetch(`${mesh.http(mesh.core)}/v1/presence?topic=room.1`);
  t.is(http.status, 200);
  t.deepEqual(await http.json(), { topic: 'room.1', count: 1, members: [{ session: watcherSession, edge: 'eu-1' }] });
  const viaEdge = (await (await fetch(`${mesh.http(us!)}/v1/presence?topic=room.1`)).json()) as { count: number };
  t.is(viaEdge.count, 1, 'an edge answers for the whole mesh');
  t.is((await fetch(`${mesh.http(us!)}/v1/presence?topic=room.*`)).status, 400);
  t.is((await fetch(`${mesh.http(us!)}/v1/presence`)).status, 400);
});

test('patterns are not presence; joinLeave on a pattern, bad fields and huge topics get errors and the connection stays', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  await client.subscribe('room.*', 1);
  const other = await RawClient.connected(t, mesh.edges[0]!.url);
  await other.subscribe('room.1', 1);
  t.like(await askPresence(client, 'room.1', 'a'), { count: 1 }, 'a pattern subscription is not a member');
  t.like(await askPresence(client, 'room.*', 'b'), { op: 'error', code: 'invalid_topic' });
  client.send({ op: 'presence', id: 'c' });
  t.like(await client.next((op) => op.id === 'c'), { op: 'error', code: 'bad_request' });
  client.send({ op: 'presence', id: 'd', topic: 42 });
  t.like(await client.next((op) => op.id === 'd'), { op: 'error', code: 'bad_request' });
  t.like(await askPresence(client, `x.${'y'.repeat(300)}`, 'e'), { op: 'error', code: 'invalid_topic' });
  t.like(await askPresence(client, '', 'f'), { op: 'error', code: 'invalid_topic' });
  client.send({ op: 'sub', id: 'g', topic: 'chat.>', joinLeave: true });
  t.like(await client.next((op) => op.id === 'g'), { op: 'error', code: 'bad_request' });
  client.send({ op: 'sub', id: 'h', topic: 'chat.1', joinLeave: 'yes' });
  t.like(await client.next((op) => op.id === 'h'), { op: 'error', code: 'bad_request' });
  client.send({ op: 'ping', id: 'i' });
  t.like(await client.next((op) => op.id === 'i'), { op: 'pong' });
});

test('an edge whose uplink stays lost past the grace period loses its members; one that comes back keeps them', async (t) => {
  const { proxy, edge } = await coreBehindProxy(t, { presenceGraceMs: 300 });
  const eu = await edge('eu-1', false);
  const us = await edge('us-1', true);
  const watcher = await RawClient.connected(t, eu.url);
  await listen(watcher, 'room.1');
  const stays = await RawClient.connected(t, us.url);
  const goes = await RawClient.connected(t, us.url);
  await stays.subscribe('room.1', 1);
  await goes.subscribe('room.1', 1);
  await watcher.next(isEvent('join', sessionOf(stays)));
  await watcher.next(isEvent('join', sessionOf(goes)));

  // A cut the edge heals at once: the core still holds its members when it reports them again, so nobody leaves...
  proxy.cut();
  await us.uplink.whenConnected(10_000);
  // ...except one that left while the uplink was down.
  goes.ws.terminate();
  await watcher.next(isEvent('leave', sessionOf(goes)));
  t.like(await askPresence(watcher, 'room.1', 'p'), { count: 2 });
  t.false(
    watcher.received.some((op) => op.op === 'leave' && op.session === (sessionOf(stays) as string)),
    'no leave for a member that stayed',
  );

  // Now the edge is cut off for good: after the grace period its members leave.
  proxy.refuse(true);
  proxy.cut();
  await watcher.next(isEvent('leave', sessionOf(stays)));
  t.like(await askPresence(watcher, 'room.1', 'q'), { count: 1 });
});

test('the SDK: presence(), onJoin and onLeave', async (t) => {
  const mesh = await startMesh(t);
  const [eu, us] = mesh.edges;
  const a = new NodeMeshClient({ url: eu!.url });
  const b = new NodeMeshClient({ url: us!.url });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const welcome = await b.connect();
  let joined!: (member: PresenceMember) => void;
  let left!: (member: PresenceMember) => void;
  const join = new Promise<PresenceMember>((resolve) => (joined = resolve));
  const leave = new Promise<PresenceMember>((resolve) => (left = resolve));
  const subscription = await a.subscribe('room.sdk', {
    onJoin: (member) => member.session === welcome.session && joined(member),
  });
  subscription.onLeave((member) => member.session === welcome.session && left(member));
  const bSub = await b.subscribe('room.sdk');
  t.like(await within(join, 'join seen'), { edge: 'us-1' });
  const answer = await b.presence('room.sdk');
  t.is(answer.count, 2);
  t.true(answer.members.some((member) => member.session === welcome.session && member.edge === 'us-1'));
  await bSub.unsubscribe();
  t.like(await within(leave, 'leave seen'), { session: welcome.session });
  await t.throwsAsync(b.presence('room.*'), { message: /pattern|topic/ });
});

test('every listener on an edge hears joins and leaves, not only the first to subscribe there', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const first = await RawClient.connected(t, edge.url);
  await listen(first, 'room.2');
  const second = await RawClient.connected(t, edge.url);
  await listen(second, 'room.2');
  await second.next(isEvent('join', sessionOf(second)));
  const third = await RawClient.connected(t, edge.url);
  await third.subscribe('room.2', 1);
  for (const listener of [first, second])
    t.like(await listener.next(isEvent('join', sessionOf(third))), { topic: 'room.2', edge: 'eu-1' });
});

test('joinLeave on a pattern is refused before it takes any of the address share of topics', async (t) => {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxTopicsPerAddress: 2 } },
  });
  const client = await RawClient.connected(t, mesh.edges[0]!.url);
  for (let i = 0; i < 5; i++) {
    client.send({ op: 'sub', id: i, topic: `p${i}.*`, joinLeave: true });
    t.like(await client.next((op) => op.id === i), { op: 'error', code: 'bad_request' });
  }
  t.like(await client.subscribe('room.ok', 'ok'), { op: 'subok' });
});

test('a listener whose edge lost its uplink hears, once it is back, who came and went meanwhile', async (t) => {
  const { proxy, edge } = await coreBehindProxy(t);
  const eu = await edge('eu-1', true);
  const us = await edge('us-1', false);
  const watcher = await RawClient.connected(t, eu.url);
  await listen(watcher, 'room.3');
  const goes = await RawClient.connected(t, us.url);
  await goes.subscribe('room.3', 1);
  await watcher.next(isEvent('join', sessionOf(goes)));
  // The watcher's edge first learns the topic's members (its answer follows the events above on the uplink).
  t.like(await askPresence(watcher, 'room.3', 'p'), { count: 2 });

  proxy.refuse(true);
  proxy.cut();
  await within(
    eu.meshUntil(() => !eu.uplink.connected, 10_000),
    'the edge notices its uplink is gone',
  );
  goes.send({ op: 'unsub', id: 2, topic: 'room.3' });
  await goes.next((op) => op.id === 2);
  const comes = await RawClient.connected(t, us.url);
  await comes.subscribe('room.3', 1);
  t.like(await askPresence(comes, 'room.3', 'q'), { count: 2 }, 'the core knows');
  proxy.refuse(false);
  await eu.uplink.whenConnected(10_000);
  t.like(await watcher.next(isEvent('leave', sessionOf(goes))), { edge: 'us-1' });
  t.like(await watcher.next(isEvent('join', sessionOf(comes))), { edge: 'us-1' });
});
