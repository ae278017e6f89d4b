// Redis away at start and during operation: cores keep running, say so (logs, /healthz 503, `unavailable` errors to
// publishers), and recover when it returns; a pub/sub connection that was down catches up on what it missed; a Redis
// that came back empty means a new epoch, and clients get `reset`.

import test from 'ava';
import { RedisEngine } from '../core/redis-engine.js';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { NodeMeshClient } from '../client/node.js';
import { collector } from './helpers/collector.js';
import { fastUplink, silentLogger } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { PublishError, publisher } from './helpers/http-publish.js';
import { redisEngineOf, startRedisCore, uniquePrefix } from './helpers/redis-mesh.js';
import { RedisServer } from './helpers/redis-server.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { capturedLog } from './helpers/captured-log.js';

const down = (status: { unavailable: string | undefined }): boolean => status.unavailable !== undefined;

async function health(core: { url: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${core.url.replace(/^ws/, 'http')}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function metricsText(core: { url: string }): Promise<string> {
  return (await fetch(`${core.url.replace(/^ws/, 'http')}/metrics`)).text();
}

test('a core started while Redis is away runs, answers 503 and `unavailable`, logs why, and recovers when Redis comes', async (t) => {
  const redis = await RedisServer.start(t);
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.teardown(() => proxy.close());
  proxy.refuse(true);
  const { logger, lines } = capturedLog();
  const engine = new RedisEngine({
    url: `redis://127.0.0.1:${proxy.port}`,
    keyPrefix: uniquePrefix(),
    maxMessages: 100,
    maxAgeMs: 60_000,
    logger,
  });
  const core = await startCore({ id: 'central', engine, logger: silentLogger });
  t.teardown(() => core.close());
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: core.id, url: core.url }],
    uplink: fastUplink,
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();

  t.like(await health(core), {
    status: 503,
    body: { status: 'unavailable', role: 'core', reason: 'redis unavailable' },
  });
  const refused = await t.throwsAsync(publisher(core)('alerts.eu', 1), { instanceOf: PublishError });
  t.is(refused?.status, 503);
  t.like(JSON.parse(refused?.body ?? '{}'), { error: { code: 'unavailable' } });
  const client = await RawClient.connected(t, edge.url);
  client.send({ op: 'pub', id: 1, topic: 'alerts.eu', data: 'x' });
  t.like(await client.next((op) => op.id === 1), { op: 'error', code: 'unavailable' });
  t.like(await client.subscribe('alerts.eu', 2), { op: 'error', code: 'unavailable' });
  t.regex(await metricsText(core), /relaymesh_core_engine_up\{[^}]*\} 0/);
  t.true(
    lines.some((line) => line.includes('redis unavailable')),
    'the reason is logged',
  );
  t.false(
    lines.some((line) => line.includes(String(proxy.port)) === false && line.includes('password')),
    'nothing secret is logged',
  );

  proxy.refuse(false);
  await engine.whenAvailable(10_000);
  t.like(await health(core), { status: 200, body: { status: 'ok' } });
  t.regex(await metricsText(core), /relaymesh_core_engine_up\{[^}]*\} 1/);
  t.like(await client.subscribe('alerts.eu', 3), { op: 'subok', offset: 0 });
  t.like(await publisher(core)('alerts.eu', 'back'), { offset: 1 });
  t.like((await client.messages(1))[0], { topic: 'alerts.eu', offset: 1, data: 'back' });
});

test('a core whose pub/sub connection was cut catches up, in order and once, on what other cores published meanwhile', async (t) => {
  const redis = await RedisServer.start(t);
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: redis.port } });
  t.teardown(() => proxy.close());
  const prefix = uniquePrefix();
  const cut = await startRedisCore(t, 'core-a', `redis://127.0.0.1:${proxy.port}`, prefix);
  const other = await startRedisCore(t, 'core-b', redis.url, prefix);
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: cut.id, url: cut.url }],
    uplink: fastUplink,
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();
  const exact = collector();
  const pattern = collector();
  const resets: unknown[] = [];
  for (const [topic, received] of [
    ['feed.x', exact],
    ['feed.*', pattern],
  ] as const) {
    const client = new NodeMeshClient({ url: edge.url, reconnect: { baseMs: 10, maxMs: 100 } });
    t.teardown(() => client.close());
    await client.subscribe(topic, { onMessage: received.onMessage, onReset: (position) => resets.push(position) });
  }
  const publish = publisher(other);
  for (let i = 1; i <= 5; i++) await publish('feed.x', i);
  await exact.until(5);
  await pattern.until(5);

  const engine = redisEngineOf(cut);
  proxy.refuse(true);
  proxy.cut();
  await engine.whenStatus(down, 10_000);
  t.is((await health(cut)).status, 503);
  // Sequenced in Redis through the other core while this core hears nothing.
  for (let i = 6; i <= 10; i++) await publish('feed.x', i);
  proxy.refuse(false);
  await engine.whenAvailable(10_000);

  const expected = Array.from({ length: 10 }, (_, i) => i + 1);
  t.deepEqual(
    (await exact.until(10)).map((message) => message.offset),
    expected,
  );
  t.deepEqual(
    (await pattern.until(10)).map((message) => message.offset),
    expected,
  );
  await publish('feed.x', 11);
  t.deepEqual(
    (await exact.until(11)).map((message) => message.data),
    [...expected, 11],
  );
  t.deepEqual(
    (await pattern.until(11)).map((message) => message.data),
    [...expected, 11],
  );
  t.deepEqual(resets, []);
  t.is((await health(cut)).status, 200);
});

test('Redis going away during operation: 503 and errors meanwhile, no crash; back empty, its new epoch resets clients', async (t) => {
  const redis = await RedisServer.start(t);
  const core = await startRedisCore(t, 'central', redis.url, uniquePrefix());
  const engine = redisEngineOf(core);
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [{ id: core.id, url: core.url }],
    uplink: fastUplink,
    logger: silentLogger,
  });
  t.teardown(() => edge.close());
  await edge.ready();
  const client = await RawClient.connected(t, edge.url);
  await client.subscribe('prices.eur-usd', 1);
  const before = await publisher(core)('prices.eur-usd', 1.08);
  await client.messages(1);

  await redis.stop();
  await engine.whenStatus(down, 10_000);
  t.like(await health(core), { status: 503, body: { reason: 'redis unavailable' } });
  await t.throwsAsync(publisher(core)('prices.eur-usd', 1.09), { message: /503/ });
  client.send({ op: 'pub', id: 2, topic: 'prices.eur-usd', data: 1.1 });
  t.like(await client.next((op) => op.id === 2), { op: 'error', code: 'unavailable' });

  // Without persistence Redis comes back empty: the history is gone, so is the epoch.
  await redis.restart();
  const reset = await client.next((op) => op.op === 'reset');
  t.not(reset.epoch, before.epoch);
  t.like(reset, { topic: 'prices.eur-usd', offset: 0 });
  await engine.whenAvailable(10_000);
  const after = await publisher(core)('prices.eur-usd', 1.11);
  t.like(after, { epoch: reset.epoch, offset: 1 });
  t.like((await client.messages(2))[1], { epoch: reset.epoch, offset: 1, data: 1.11 });
  t.is((await health(core)).status, 200);
});
