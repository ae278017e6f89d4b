// Back-pressure on the uplink, both ways: a core keeps at most `uplink.maxQueueBytes` for an edge and drops one that
// does not read or does not answer pings (frames it sends do not count as life); an edge refuses publishes with
// `unavailable` once its uplink holds that much, and one client address gets only its share of the publishes waiting.

import test, { type ExecutionContext } from 'ava';
import { startCore } from '../core/start-core.js';
import type { MeshSnapshot } from '../shared/mesh-status.js';
import { frameType, protocolVersion } from '../shared/protocol.js';
import { quietUplink, silentLogger, startMesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { RawUplink } from './helpers/raw-uplink.js';

const report = (): [string, boolean, number, number, number, number, number, number] => [
  'ws://127.0.0.1:1',
  false,
  0,
  100,
  0,
  0,
  0,
  0,
];
const listed =
  (id: string) =>
  (snapshot: MeshSnapshot): boolean =>
    snapshot.edges.some((edge) => edge.id === id);

/** A raw edge that says hello, reports itself, then stops reading its socket. */
async function stalledEdge(
  t: Parameters<typeof RawUplink.dial>[0],
  coreUrl: string,
  id: string,
  subscribe?: string,
): Promise<RawUplink> {
  const uplink = await RawUplink.dial(t, coreUrl);
  uplink.send([frameType.hello, protocolVersion, id, 'eu', 'instance', '']);
  await uplink.next((frame) => frame[0] === frameType.welcome);
  if (subscribe) {
    uplink.send([frameType.sub, 1, subscribe, null]);
    await uplink.next((frame) => frame[0] === frameType.subok);
  }
  uplink.send([frameType.edgeStatus, report()]);
  uplink.ws.pause();
  return uplink;
}

test('a core drops an edge that keeps sending but never reads: only an answered ping is a sign of life', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger, uplinkTimeoutMs: 300 });
  t.teardown(() => core.close());
  const uplink = await stalledEdge(t, core.url, 'chatty');
  await core.meshUntil(listed('chatty'));
  const chatter = setInterval(() => uplink.send([frameType.edgeStatus, report()]), 50);
  t.teardown(() => clearInterval(chatter));
  await core.meshUntil((snapshot) => !listed('chatty')(snapshot));
  t.false(core.uplinks.has('chatty'));
});

test('a core keeps at most uplink.maxQueueBytes for an edge that does not read, then drops it', async (t) => {
  const core = await startCore({
    id: 'central',
    logger: silentLogger,
    uplinkTimeoutMs: 600_000,
    maxUplinkQueueBytes: 2 * 1024 * 1024,
  });
  t.teardown(() => core.close());
  await stalledEdge(t, core.url, 'stalled', 'flood.t');
  await core.meshUntil(listed('stalled'));
  const base = core.url.replace(/^ws/, 'http');
  const batch = JSON.stringify(Array.from({ length: 9 }, () => ({ topic: 'flood.t', data: 'x'.repeat(100_000) })));
  // The socket buffers on both sides take some megabytes first; 40 MB is far beyond them and the bound.
  for (let i = 0; i < 45 && core.uplinks.has('stalled'); i++) {
    t.is((await fetch(`${base}/v1/publish`, { method: 'POST', body: batch })).status, 200);
  }
  await core.meshUntil((snapshot) => !listed('stalled')(snapshot));
  t.false(core.uplinks.has('stalled'));
});

/** A core, a throttled proxy on the uplink, and an edge behind it whose uplink holds `maxQueueBytes` at most. */
async function throttledEdge(t: ExecutionContext, limits: Record<string, number> = {}) {
  const mesh = await startMesh(t, {
    proxied: true,
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { uplink: { ...quietUplink, maxQueueBytes: 512 * 1024 }, limits },
  });
  const proxy = mesh.proxies[0]!;
  proxy.throttle(20_000);
  return { proxy, edge: mesh.edges[0]! };
}

test('an edge whose uplink is full refuses publishes with unavailable at once, instead of queueing them without end', async (t) => {
  const { edge } = await throttledEdge(t, { maxPublishBytesPerAddress: 64 * 1024 * 1024 });
  const client = await RawClient.connected(t, edge.url);
  const data = 'y'.repeat(100_000);
  for (let id = 0; id < 30; id++) client.send({ op: 'pub', id, topic: 'pile.t', data });
  const refused = await client.next((op) => op.op === 'error');
  t.like(refused, { code: 'unavailable' });
  t.true(
    edge.uplink.unacknowledgedPublishes <= 6,
    `${edge.uplink.unacknowledgedPublishes} publishes wait, at most 512 KiB of them`,
  );
});

test('one client address gets only its share of the publishes waiting for the core; another address still publishes', async (t) => {
  const { proxy, edge } = await throttledEdge(t, { maxPublishBytesPerAddress: 350_000 });
  const data = 'z'.repeat(100_000);
  const greedy = await RawClient.connected(t, edge.url);
  for (let id = 0; id < 5; id++) greedy.send({ op: 'pub', id, topic: 'share.t', data });
  const refused = await greedy.next((op) => op.op === 'error');
  t.like(refused, { code: 'rate_limited', id: 3 });
  const other = await RawClient.connected(t, edge.url, 'json', '127.0.0.2');
  other.send({ op: 'pub', id: 'other', topic: 'share.t', data: 'small' });
  proxy.throttle(null);
  const answer: Op = await other.next((op) => op.id === 'other');
  t.is(answer.op, 'puback');
  for (const id of [0, 1, 2]) t.like(await greedy.next((op) => op.id === id), { op: 'puback' });
});
