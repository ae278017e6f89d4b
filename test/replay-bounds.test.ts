// Replays cost in proportion to what asks for them: a `sub`/`unsub` loop from offset 0 is cancelled on the core
// instead of replaying the whole history every time, one replay carries at most limits.maxReplayBytes, a client pays
// for the replays it gets in its message rate, and after a core restart the edge replays what the new core sequenced
// before it came back instead of skipping it.

import test from 'ava';
import { startCore } from '../core/start-core.js';
import type { EdgeHandle } from '../edge/start-edge.js';
import { publisher } from './helpers/http-publish.js';
import { fastUplink, silentLogger, startMesh, type Mesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';

const messageBytes = 60_000;
const messageCount = 100;

/** 100 messages of 60 kB on `topic` (a full replay is 6 MB), published over HTTP in requests under the 1 MiB body bound. */
async function fill(base: string, topic: string): Promise<string> {
  let epoch = '';
  for (let sent = 0; sent < messageCount; sent += 10) {
    const batch = Array.from({ length: 10 }, (_, i) => ({ topic, data: `${sent + i}`.padEnd(messageBytes, '.') }));
    const response = await fetch(`${base}/v1/publish`, { method: 'POST', body: JSON.stringify(batch) });
    if (response.status !== 200) throw new Error(`publish: ${response.status} ${await response.text()}`);
    epoch = ((await response.json()) as Array<{ epoch: string }>)[0]!.epoch;
  }
  return epoch;
}

async function uplinkBytesIn(edge: EdgeHandle): Promise<number> {
  return (await edge.metrics.uplinkBytes.get()).values.find((value) => value.labels.direction === 'in')?.value ?? 0;
}

async function meshWithHistory(
  t: Parameters<typeof startMesh>[0],
  options: Parameters<typeof startMesh>[1] = {},
): Promise<{ mesh: Mesh; edge: EdgeHandle; epoch: string }> {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], ...options });
  const epoch = await fill(mesh.http(mesh.core), 'big.topic');
  return { mesh, edge: mesh.edges[0]!, epoch };
}

test('a sub/unsub loop from offset 0 is cancelled on the core: the uplink carries about one replay, not one per loop', async (t) => {
  const { edge, epoch } = await meshWithHistory(t, { core: { maxReplayBytes: 64 * 1024 * 1024 } });
  const client = await RawClient.connected(t, edge.url);
  const before = await uplinkBytesIn(edge);
  for (let i = 0; i < 20; i++) {
    client.send({ op: 'sub', id: `s${i}`, topic: 'big.topic', since: { epoch, offset: 0 } });
    client.send({ op: 'unsub', id: `u${i}`, topic: 'big.topic' });
    await client.next((op) => op.id === `u${i}`);
  }
  // One replay that is let through, to its end: what the loop queued on the core came before it.
  t.like(await client.subscribe('big.topic', 'last', { epoch, offset: 0 }), {
    op: 'subok',
    recovered: true,
    offset: messageCount,
  });
  await client.messages(messageCount);
  const carried = (await uplinkBytesIn(edge)) - before;
  t.true(
    carried < 3 * messageCount * messageBytes,
    `the uplink carried ${carried} bytes for 21 replays of ${messageCount * messageBytes}`,
  );
});

test('one replay carries at most limits.maxReplayBytes: a resume needing more is answered recovered: false', async (t) => {
  const { mesh, edge, epoch } = await meshWithHistory(t, {
    core: { maxReplayBytes: 1024 * 1024 },
    edge: { recentMessages: 2 },
  });
  // A first subscriber: its `since` rides the edge's own `sub` to the core.
  const first = await RawClient.connected(t, edge.url);
  t.like(await first.subscribe('big.topic', 1, { epoch, offset: 0 }), {
    op: 'subok',
    recovered: false,
    epoch,
    offset: messageCount,
  });
  // A second, once the edge holds the topic: the edge's cache holds 2 messages, so it asks the core (`history`).
  const second = await RawClient.connected(t, edge.url);
  t.like(await second.subscribe('big.topic', 2, { epoch, offset: 10 }), { op: 'subok', recovered: false });
  // Within the bound, it is served.
  const third = await RawClient.connected(t, edge.url);
  t.like(await third.subscribe('big.topic', 4, { epoch, offset: messageCount - 10 }), { op: 'subok', recovered: true });
  t.is((await third.messages(10)).length, 10);
  t.is((await mesh.core.metrics.replaysRefused.get()).values[0]?.value, 2);
  t.false(
    first.received.some((op) => op.op === 'msg') || second.received.some((op) => op.op === 'msg'),
    'nothing of a refused replay reaches a client',
  );
});

test('a client pays for the replays it gets in its message rate', async (t) => {
  const { edge, epoch } = await meshWithHistory(t, {
    core: { maxReplayBytes: 64 * 1024 * 1024 },
    edge: { limits: { messagesPerSecond: 1, messageBurst: 10 } },
  });
  const client = await RawClient.connected(t, edge.url);
  // Burst 10: connect and sub spend 2, so without the charge the three pings below would pass.
  t.like(await client.subscribe('big.topic', 'replay', { epoch, offset: 0 }), { op: 'subok', recovered: true });
  await client.messages(messageCount);
  for (const id of ['p1', 'p2', 'p3']) client.send({ op: 'ping', id });
  const answers: Op[] = [];
  for (const id of ['p1', 'p2', 'p3']) answers.push(await client.next((op) => op.id === id));
  t.true(
    answers.some((op) => op.op === 'error' && op.code === 'rate_limited'),
    JSON.stringify(answers),
  );
  t.is(
    await Promise.race([client.closed.then(() => 'closed'), Promise.resolve('open')]),
    'open',
    'the replay it asked for never gets it cut off',
  );
});

test('after a core restart the edge replays what the new core sequenced before it came back: reset, then every message', async (t) => {
  const { core, edges, proxies } = await startMesh(t, {
    proxied: true,
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { uplink: fastUplink },
  });
  const [edge, proxy] = [edges[0]!, proxies[0]!];
  const client = await RawClient.connected(t, edge.url);
  await client.subscribe('restart.topic', 1);
  const publish = publisher(core);
  await publish('restart.topic', 'before');
  await client.messages(1);

  // The edge cannot come back until the new core has sequenced three messages.
  proxy.refuse(true);
  proxy.cut();
  await core.close();
  const second = await startCore({ id: 'central', listen: core.address, logger: silentLogger });
  t.teardown(() => second.close());
  const published = [];
  for (const data of ['one', 'two', 'three']) published.push(await publish('restart.topic', data));
  proxy.refuse(false);
  const reset = await client.next((op) => op.op === 'reset');
  t.deepEqual(reset, { op: 'reset', topic: 'restart.topic', epoch: published[0]!.epoch, offset: 0 });
  const after = (await client.messages(4)).slice(1);
  t.deepEqual(
    after.map((op) => [op.epoch, op.offset, op.data]),
    [
      [reset.epoch, 1, 'one'],
      [reset.epoch, 2, 'two'],
      [reset.epoch, 3, 'three'],
    ],
  );
});
