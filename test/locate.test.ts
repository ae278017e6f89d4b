// GET /v1/locate (docs/protocol.md §4) on cores and edges: same region first, only healthy edges (uplink up, not draining),
// neighbour regions as the topology declares them, least loaded first; and the SDK connecting through locate.

import test from 'ava';
import { NodeMeshClient } from '../client/node.js';
import type { EdgeHandle } from '../edge/start-edge.js';
import type { LocateConfig } from '../shared/locate.js';
import type { MeshSnapshot } from '../shared/mesh-status.js';
import { collector } from './helpers/collector.js';
import { startMesh, type Mesh } from './helpers/mesh.js';
import { RawClient, upgradeStatus } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

const threeRegions = [
  { id: 'eu-1', region: 'eu' },
  { id: 'us-1', region: 'us' },
  { id: 'ap-1', region: 'ap' },
];

interface Located {
  status: number;
  /** The Location of a 307, or the `url` of a JSON answer. */
  url: string | undefined;
  body: unknown;
}

async function locate(node: { url: string }, query = '', headers: Record<string, string> = {}): Promise<Located> {
  const response = await fetch(`${node.url.replace(/^ws/, 'http')}/v1/locate${query}`, { redirect: 'manual', headers });
  const body: unknown = response.headers.get('content-type')?.includes('json')
    ? await response.json()
    : await response.text();
  const url = response.headers.get('location') ?? (body as { url?: string }).url;
  return { status: response.status, url, body };
}

function clientUrl(edge: EdgeHandle): string {
  return `${edge.url}/v1/ws`;
}

async function meshOf(
  edges: typeof threeRegions,
  locate: Partial<LocateConfig> = {},
  options: { proxied?: boolean; statusMs?: number } = {},
): Promise<(t: Parameters<typeof startMesh>[0]) => Promise<Mesh & { byId(id: string): EdgeHandle }>> {
  const config: LocateConfig = {
    neighbours: {},
    order: edges.map((edge) => edge.id),
    regionHeader: 'x-relaymesh-region',
    ...locate,
  };
  return async (t) => {
    const mesh = await startMesh(t, {
      edges,
      proxied: options.proxied,
      core: { region: 'us', locate: config },
      edge: { locate: config, uplink: { heartbeatMs: 600_000, statusMs: options.statusMs ?? 600_000 } },
    });
    // Every edge learns the whole mesh from the core before the test asks it.
    const everyone = (snapshot: MeshSnapshot): boolean => snapshot.edges.length === edges.length;
    await Promise.all([mesh.core.meshUntil(everyone), ...mesh.edges.map((edge) => edge.meshUntil(everyone))]);
    return { ...mesh, byId: (id) => mesh.edges.find((edge) => edge.id === id)! };
  };
}

test('locate sends a client to the edge of its region, from the core and from any edge', async (t) => {
  const mesh = await (await meshOf(threeRegions))(t);
  const [eu, us, ap] = ['eu-1', 'us-1', 'ap-1'].map(mesh.byId) as [EdgeHandle, EdgeHandle, EdgeHandle];

  const redirect = await locate(mesh.core, '?region=eu');
  t.is(redirect.status, 307);
  t.is(redirect.url, clientUrl(eu));

  const json = await locate(eu, '?region=us', { accept: 'application/json' });
  t.is(json.status, 200);
  t.like(json.body, { edge: 'us-1', region: 'us', url: clientUrl(us) });
  t.deepEqual(
    (json.body as { candidates: Array<{ edge: string }> }).candidates.map((candidate) => candidate.edge),
    ['us-1', 'eu-1', 'ap-1'],
  );

  // Without a query: the region header a CDN sets, else the answering node's own region.
  t.is((await locate(us, '', { 'x-relaymesh-region': 'ap' })).url, clientUrl(ap));
  t.is((await locate(mesh.core)).url, clientUrl(us), 'the core is in us');
  t.is((await locate(ap)).url, clientUrl(ap));
  // The query wins over the header.
  t.is((await locate(us, '?region=eu', { 'x-relaymesh-region': 'ap' })).url, clientUrl(eu));
});

test('locate skips an edge whose uplink is down', async (t) => {
  const mesh = await (await meshOf(threeRegions.slice(0, 2), {}, { proxied: true }))(t);
  const [eu, us] = ['eu-1', 'us-1'].map(mesh.byId) as [EdgeHandle, EdgeHandle];
  const euProxy = mesh.proxies[0]!;
  euProxy.refuse(true);
  euProxy.cut();
  await mesh.core.meshUntil((snapshot) => !snapshot.edges.some((edge) => edge.id === 'eu-1'));
  await eu.meshUntil((snapshot) => !snapshot.edges[0]!.healthy);

  t.is((await locate(mesh.core, '?region=eu')).url, clientUrl(us));
  // The edge itself knows its uplink is down and sends its own region's clients away too.
  t.is((await locate(eu, '?region=eu')).url, clientUrl(us));
  t.is((await within(fetch(`${eu.url.replace(/^ws/, 'http')}/healthz`), 'healthz')).status, 503);

  euProxy.refuse(false);
  await mesh.core.meshUntil((snapshot) => snapshot.edges.some((edge) => edge.id === 'eu-1' && edge.healthy));
  t.is((await locate(mesh.core, '?region=eu')).url, clientUrl(eu), 'back once its uplink is');
});

test('locate skips a draining edge and falls back to the neighbours the topology declares, then to its order', async (t) => {
  const mesh = await (await meshOf(threeRegions, { neighbours: { eu: ['ap', 'us'] } }))(t);
  const [eu, us, ap] = ['eu-1', 'us-1', 'ap-1'].map(mesh.byId) as [EdgeHandle, EdgeHandle, EdgeHandle];
  await eu.drain();
  await mesh.core.meshUntil((snapshot) => snapshot.edges.some((edge) => edge.id === 'eu-1' && edge.draining));
  await us.meshUntil((snapshot) => snapshot.edges.some((edge) => edge.id === 'eu-1' && edge.draining));

  // eu's nearest neighbour is ap, though us comes first in the topology.
  t.is((await locate(mesh.core, '?region=eu')).url, clientUrl(ap));
  t.is((await locate(us, '?region=eu')).url, clientUrl(ap), 'edges answer from the view the core sent them');
  t.is((await locate(eu, '?region=eu')).url, clientUrl(ap), 'the draining edge itself');
  // A region with no neighbours declared: the topology's order.
  t.is((await locate(mesh.core, '?region=sa')).url, clientUrl(eu === mesh.edges[0] ? us : eu));
});

test('locate prefers the least loaded edge of a region', async (t) => {
  const mesh = await (
    await meshOf(
      [
        { id: 'eu-1', region: 'eu' },
        { id: 'eu-2', region: 'eu' },
        { id: 'us-1', region: 'us' },
      ],
      {},
      { statusMs: 50 },
    )
  )(t);
  const [first, second] = ['eu-1', 'eu-2'].map(mesh.byId) as [EdgeHandle, EdgeHandle];
  t.is((await locate(mesh.core, '?region=eu')).url, clientUrl(first), 'equal load: the topology order');
  await Promise.all([RawClient.connected(t, first.url), RawClient.connected(t, first.url)]);
  await mesh.core.meshUntil((snapshot) => snapshot.edges.some((edge) => edge.id === 'eu-1' && edge.sessions === 2));
  t.is((await locate(mesh.core, '?region=eu')).url, clientUrl(second));
});

test('a full edge refuses new clients and locate sends them elsewhere', async (t) => {
  const mesh = await startMesh(t, {
    edge: { limits: { maxConnections: 1 }, uplink: { heartbeatMs: 600_000, statusMs: 50 } },
  });
  const [eu, us] = mesh.edges as [EdgeHandle, EdgeHandle];
  await RawClient.connected(t, eu.url);
  await mesh.core.meshUntil((snapshot) =>
    snapshot.edges.some((edge) => edge.id === 'eu-1' && edge.sessions === 1 && !edge.healthy),
  );
  t.is((await locate(mesh.core, '?region=eu')).url, clientUrl(us));
  t.is(await within(upgradeStatus(eu.url, {}), 'the refusal'), 503);
});

test('locate answers 503 when no edge is healthy', async (t) => {
  const mesh = await (await meshOf(threeRegions.slice(0, 2)))(t);
  await Promise.all(mesh.edges.map((edge) => edge.drain()));
  await mesh.core.meshUntil((snapshot) => snapshot.edges.every((edge) => edge.draining));
  const answer = await locate(mesh.core, '?region=eu');
  t.is(answer.status, 503);
  t.like(answer.body, { error: { code: 'unavailable' } });
});

test('the SDK connects through locate, and to the next candidate when its edge fails', async (t) => {
  const mesh = await (await meshOf(threeRegions.slice(0, 2)))(t);
  const [eu, us] = ['eu-1', 'us-1'].map(mesh.byId) as [EdgeHandle, EdgeHandle];
  const client = new NodeMeshClient({
    locate: mesh.http(mesh.core),
    region: 'eu',
    reconnect: { baseMs: 10, maxMs: 50 },
  });
  t.teardown(() => client.close());
  t.like(await within(client.connect(), 'connect'), { edge: 'eu-1' });

  const received = collector();
  await client.subscribe('news.eu', { onMessage: received.onMessage });
  await client.publish('news.eu', 'first');
  await received.until(1);

  const moved = within(
    new Promise<string>((resolve) => client.on('welcome', (welcome) => resolve(welcome.edge))),
    'welcome from the next edge',
  );
  await eu.close();
  t.is(await moved, us.id);
  await fetch(`${mesh.http(mesh.core)}/v1/publish`, {
    method: 'POST',
    body: JSON.stringify({ topic: 'news.eu', data: 'second' }),
  });
  const messages = await received.until(2);
  t.deepEqual(
    messages.map((message) => message.data),
    ['first', 'second'],
  );
});

test('the SDK refuses to start with neither an edge url nor a locate node', (t) => {
  t.throws(() => new NodeMeshClient({}), { message: /url.*locate/ });
});
