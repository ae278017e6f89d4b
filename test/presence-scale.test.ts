// Presence across two cores sharing one Redis (members, joins and leaves, a dead core's members expiring), exact counts
// at 5,000 members spread over edges and cores with the 1,000-member list cap, and the cap on join/leave events.

import test, { type ExecutionContext } from 'ava';
import { RedisEngine } from '../core/redis-engine.js';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import { fastUplink, silentLogger, startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { askPresence, isEvent, listen, sessionOf } from './helpers/presence.js';
import { uniquePrefix } from './helpers/redis-mesh.js';
import { within } from './helpers/within.js';
import { publisher } from './helpers/http-publish.js';
import { RedisServer } from './helpers/redis-server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

let redis: RedisServer;
test.before(async () => {
  redis = await RedisServer.launch();
});
test.after.always(() => redis?.stop());

/** A core on the shared Redis whose presence members expire `presenceTtlMs` after its last refresh. */
async function redisCore(t: ExecutionContext, id: string, prefix: string, presenceTtlMs = 30_000): Promise<CoreHandle> {
  const engine = new RedisEngine({
    url: redis.url,
    keyPrefix: prefix,
    maxMessages: 1000,
    maxAgeMs: 600_000,
    presenceTtlMs,
    logger: silentLogger,
  });
  const core = await startCore({ id, engine, logger: silentLogger });
  t.teardown(() => core.close());
  await engine.whenAvailable(10_000);
  return core;
}

async function edgeOf(t: ExecutionContext, id: string, core: CoreHandle): Promise<EdgeHandle> {
  const edge = await startEdge({
    id,
    region: 'eu',
    cores: [{ id: core.id, url: core.url }],
    uplink: fastUplink,
    limits: { maxConnectionsPerIp: 10_000 },
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();
  return edge;
}

async function member(t: ExecutionContext, edge: EdgeHandle, topic: string): Promise<RawClient> {
  const client = await RawClient.connected(t, edge.url, 'msgpack');
  await client.subscribe(topic, 1);
  return client;
}

test("two cores on one Redis: joins and leaves reach the other core, counts cover both, a dead core's members expire", async (t) => {
  const prefix = uniquePrefix();
  const a = await redisCore(t, 'core-a', prefix);
  const b = await redisCore(t, 'core-b', prefix, 500);
  const eu = await edgeOf(t, 'eu-1', a);
  const us = await edgeOf(t, 'us-1', b);
  const watcher = await RawClient.connected(t, eu.url);
  await listen(watcher, 'room.r');

  const other = await member(t, us, 'room.r');
  const session = sessionOf(other);
  t.like(await watcher.next(isEvent('join', session)), { topic: 'room.r', edge: 'us-1' });
  t.like(await askPresence(watcher, 'room.r', 'a'), { count: 2 });
  t.like(await askPresence(other, 'room.r', 'b'), { count: 2 }, 'either core counts both');
  other.send({ op: 'unsub', id: 2, topic: 'room.r' });
  await watcher.next(isEvent('leave', session));
  t.like(await askPresence(other, 'room.r', 'c'), { count: 1 });

  const stays = await member(t, us, 'room.r');
  await watcher.next(isEvent('join', sessionOf(stays)));
  const http = (await (await fetch(`${a.url.replace(/^ws/, 'http')}/v1/presence?topic=room.r`)).json()) as {
    count: number;
  };
  t.is(http.count, 2);
  // Core b dies (its edge keeps its client, and retries): b no longer refreshes its hash, which expires, and a no
  // longer counts its member.
  await b.close();
  const deadline = Date.now() + 10_000;
  let count = 0;
  do {
    count = (await askPresence(watcher, 'room.r', `d${Date.now()}`)).count as number;
    // Polls for an expiry, which no event announces.
    if (count !== 1) await new Promise((resolve) => setTimeout(resolve, 100));
  } while (count !== 1 && Date.now() < deadline);
  t.is(count, 1);
});

test('5,000 members over two edges and two cores: the count is exact, the list stops at 1,000', async (t) => {
  t.timeout(120_000);
  const prefix = uniquePrefix();
  const a = await redisCore(t, 'core-a', prefix);
  const b = await redisCore(t, 'core-b', prefix);
  const edges = [await edgeOf(t, 'eu-1', a), await edgeOf(t, 'eu-2', a), await edgeOf(t, 'us-1', b)];
  const total = 5000;
  for (let start = 0; start < total; start += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, total - start) }, (_, i) => member(t, edges[(start + i) % 3]!, 'room.big')),
    );
  }
  const asker = await RawClient.connected(t, edges[2]!.url);
  const answer = await askPresence(asker, 'room.big', 'q');
  t.is(answer.count, total);
  const members = answer.members as Array<{ session: string; edge: string }>;
  t.is(members.length, 1000);
  t.is(new Set(members.map((m) => m.session)).size, 1000, 'listed once each');
});

test('above presenceEventsMaxMembers joins and leaves are no longer announced; presence still counts', async (t) => {
  const mesh = await startMesh(t, { core: { presenceEventsMaxMembers: 3 }, edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  const watcher = await RawClient.connected(t, edge.url);
  await listen(watcher, 'room.c');
  const second = await member(t, edge, 'room.c');
  const third = await member(t, edge, 'room.c');
  await watcher.next(isEvent('join', sessionOf(third)));
  const fourth = await member(t, edge, 'room.c');
  t.like(await askPresence(watcher, 'room.c', 'n'), { count: 4 });
  // Ordered on one uplink: an event for the fourth would have come before the answer.
  t.false(watcher.received.some(isEvent('join', sessionOf(fourth))));
  // 4 members: this leave is not announced (the fourth's join was not either)...
  second.send({ op: 'unsub', id: 8, topic: 'room.c' });
  await second.next((op) => op.id === 8);
  // ...but with 3 left, the next one is (the uplink keeps the edge's reports in order).
  fourth.send({ op: 'unsub', id: 9, topic: 'room.c' });
  await watcher.next(isEvent('leave', sessionOf(fourth)));
  t.like(await askPresence(watcher, 'room.c', 'm'), { count: 2 });
});

test('an edge that fails over to another core of the Redis engine: no second join, no false leave, one real leave', async (t) => {
  const prefix = uniquePrefix();
  const a = await startCore({
    id: 'core-a',
    logger: silentLogger,
    // Long enough for the failover even on a loaded machine; short enough that a false leave at its end would show.
    presenceGraceMs: 3000,
    engine: new RedisEngine({
      url: redis.url,
      keyPrefix: prefix,
      maxMessages: 100,
      maxAgeMs: 60_000,
      logger: silentLogger,
    }),
  });
  t.teardown(() => a.close());
  const b = await redisCore(t, 'core-b', prefix);
  await (a.engine as RedisEngine).whenAvailable(10_000);
  const proxy = await startTcpProxy({ target: a.address });
  t.teardown(() => proxy.close());
  const eu = await edgeOf(t, 'eu-1', a);
  const us = await startEdge({
    id: 'us-1',
    region: 'us',
    cores: [
      { id: a.id, url: proxy.url },
      { id: b.id, url: b.url },
    ],
    uplink: { ...fastUplink, failbackMs: 600_000 },
    logger: silentLogger,
  });
  t.teardown(() => us.close());
  await us.ready();
  const watcher = await RawClient.connected(t, eu.url);
  await listen(watcher, 'room.f');
  const moving = await member(t, us, 'room.f');
  const session = sessionOf(moving);
  await watcher.next(isEvent('join', session));

  proxy.refuse(true);
  proxy.cut();
  await within(
    us.meshUntil(() => us.uplink.connected && us.uplink.coreId === 'core-b', 10_000),
    'the edge fails over to core b',
  );
  t.like(await askPresence(watcher, 'room.f', 'a'), { count: 2 }, 'counted once, now through core b');
  // Core a let go of the edge's member without a word (it went to b): a's own count is back to the watcher alone.
  const members = async (): Promise<number> =>
    (await a.metrics.registry.getSingleMetric('relaymesh_core_presence_members')!.get()).values[0]!.value;
  const deadline = Date.now() + 10_000;
  while ((await members()) !== 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(await members(), 1);
  moving.send({ op: 'unsub', id: 2, topic: 'room.f' });
  await watcher.next(isEvent('leave', session));
  t.like(await askPresence(watcher, 'room.f', 'b'), { count: 1 });
  const events = watcher.received.filter((op) => op.session === session).map((op) => op.op);
  t.deepEqual(events, ['join', 'leave']);
});

test('a crowd asking presence of a big topic across a slow uplink: the uplink holds, a bystander is served', async (t) => {
  t.timeout(120_000);
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { limits: { maxConnectionsPerIp: 10_000 } },
  });
  const members = mesh.edges[0]!;
  for (let start = 0; start < 1000; start += 250)
    await Promise.all(Array.from({ length: 250 }, () => member(t, members, 'room.crowd')));
  // The askers' edge reaches the core over a 2 MB/s link: 1,000-member answers (about 60 KB each) take 30 ms apiece.
  const proxy = await startTcpProxy({ target: mesh.core.address });
  t.teardown(() => proxy.close());
  proxy.throttle(2_000_000);
  const slow = await startEdge({
    id: 'us-1',
    region: 'us',
    cores: [{ id: mesh.core.id, url: proxy.url }],
    uplink: { heartbeatMs: 600_000, statusMs: 600_000 },
    logger: silentLogger,
  });
  t.teardown(() => slow.close());
  await slow.ready();
  const peer = mesh.core.uplinks.get('us-1');
  const bystander = await member(t, slow, 'news.1');
  const askers = await Promise.all(Array.from({ length: 20 }, () => RawClient.connected(t, slow.url)));
  // Each asks as fast as its message rate lets it: 2,000 questions at once, far more than the link carries quickly.
  for (const asker of askers) for (let i = 0; i < 100; i++) asker.send({ op: 'presence', id: i, topic: 'room.crowd' });
  await publisher(mesh.core)('news.1', 'still here');
  t.like(await bystander.next((op) => op.op === 'msg'), { topic: 'news.1' });
  for (const asker of askers) {
    const last = await asker.next((op) => op.id === 99, 60_000);
    // Answered, or refused by the asker's rate or its address's share of waiting questions: never left unanswered.
    t.true(
      last.op === 'presenceok' || ['rate_limited', 'unavailable'].includes(String(last.code)),
      JSON.stringify(last),
    );
  }
  t.true(mesh.core.uplinks.get('us-1') === peer, 'the core kept the same uplink: none was dropped as too slow');
  t.is(slow.uplink.reconnects, 0);
});
