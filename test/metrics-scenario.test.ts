// A scripted scenario on a real mesh whose Prometheus metrics and mesh view are checked exactly: fan-out counts, amplification, WAN bytes saved, replays by source, capacity refusals and uplink reconnects.

import test from 'ava';
import { packValue } from '../shared/codec.js';
import type { MeshSnapshot } from '../shared/mesh-status.js';
import { startMesh, type Mesh } from './helpers/mesh.js';
import { RawClient, upgradeStatus, type Op } from './helpers/raw-client.js';
import { within } from './helpers/within.js';
import { publish } from './helpers/http-publish.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format (as prom-client writes it): one sample per non-comment line. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = match[3]!;
    samples.push({
      name: match[1]!,
      labels,
      value: value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value),
    });
  }
  return samples;
}

interface Scrape {
  samples: Sample[];
  /** The value of the one sample named `name` whose labels include `labels`; throws unless exactly one matches. */
  value(name: string, labels?: Record<string, string>): number;
}

/** GET /metrics of a node over HTTP. */
async function scrape(mesh: Mesh, node: { url: string }): Promise<Scrape> {
  const response = await fetch(`${mesh.http(node)}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  if (!(response.headers.get('content-type') ?? '').startsWith('text/plain'))
    throw new Error(`GET /metrics content-type ${response.headers.get('content-type')}`);
  const samples = parsePrometheus(await response.text());
  return {
    samples,
    value(name, labels = {}) {
      const found = samples.filter(
        (sample) =>
          sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
      );
      if (found.length !== 1)
        throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels)}: ${JSON.stringify(found)}`);
      return found[0]!.value;
    },
  };
}

async function getMesh(mesh: Mesh, node: { url: string }): Promise<MeshSnapshot> {
  const response = await fetch(`${mesh.http(node)}/v1/mesh`);
  if (response.status !== 200) throw new Error(`GET /v1/mesh answered ${response.status}`);
  return (await response.json()) as MeshSnapshot;
}

const scenarioEdges = [
  { id: 'eu-1', region: 'eu' },
  { id: 'us-1', region: 'us' },
  { id: 'ap-1', region: 'ap' },
];
const clientsPerEdge = [34, 33, 33];
const topic = 'scenario.news';
const messageCount = 10;
// The same data every time, so every message's msgpack payload has the same length.
const data = { headline: 'relaymesh scenario', n: 42, tags: ['edge', 'core'], ok: true };

test('3 edges, 100 clients, 10 messages: exact fan-out metrics on each edge, on the core, and in the mesh view', async (t) => {
  const mesh = await startMesh(t, {
    edges: scenarioEdges,
    core: { statusMs: 50 },
    edge: { uplink: { heartbeatMs: 600_000, statusMs: 50 } },
  });
  const payloadBytes = packValue(data).length;
  t.true(payloadBytes > 0);

  const clients: RawClient[][] = await Promise.all(
    mesh.edges.map((edge, e) =>
      Promise.all(
        Array.from({ length: clientsPerEdge[e]! }, (_, i) =>
          RawClient.connected(t, edge.url, i % 2 === 0 ? 'json' : 'msgpack'),
        ),
      ),
    ),
  );
  const everyone = clients.flat();
  t.is(everyone.length, 100);
  const answers = await within(Promise.all(everyone.map((client) => client.subscribe(topic, 1))), 'every subok');
  for (const answer of answers) t.is(answer.op, 'subok', JSON.stringify(answer));

  for (let i = 0; i < messageCount; i++) await publish(mesh.core, topic, data);
  const received = await within(
    Promise.all(everyone.map((client) => client.messages(messageCount))),
    'every client got every message',
  );
  for (const messages of received) {
    t.is(messages.length, messageCount);
    t.deepEqual(
      messages.map((op: Op) => op.offset),
      Array.from({ length: messageCount }, (_, i) => i + 1),
    );
    for (const message of messages) t.deepEqual(message.data, data);
  }

  for (const [e, edge] of mesh.edges.entries()) {
    const n = clientsPerEdge[e]!;
    const metrics = await scrape(mesh, edge);
    const own = { role: 'edge', node: edge.id };
    const what = (name: string): string => `${edge.id}: ${name}`;
    t.is(metrics.value('relaymesh_edge_deliveries_total', own), n * messageCount, what('deliveries'));
    t.is(metrics.value('relaymesh_edge_messages_in_total', own), messageCount, what('messages in'));
    t.is(metrics.value('relaymesh_edge_amplification', own), n, what('amplification'));
    t.is(metrics.value('relaymesh_edge_subscriptions', own), n, what('subscriptions'));
    t.is(metrics.value('relaymesh_edge_topics', own), 1, what('topics'));
    t.is(metrics.value('relaymesh_edge_patterns', own), 0, what('patterns'));
    t.is(
      metrics.value('relaymesh_edge_sessions', { ...own, transport: 'websocket', protocol: 'native' }),
      n,
      what('websocket sessions'),
    );
    t.is(
      metrics.value('relaymesh_edge_sessions', { ...own, transport: 'http-stream' }),
      0,
      what('http-stream sessions'),
    );
    t.is(
      metrics.value('relaymesh_edge_connections_total', { ...own, transport: 'websocket', protocol: 'native' }),
      n,
      what('connections'),
    );
    t.is(
      metrics.value('relaymesh_edge_wan_bytes_saved_total', own),
      (n - 1) * payloadBytes * messageCount,
      what('WAN bytes saved'),
    );
    t.is(metrics.value('relaymesh_edge_published_total', own), 0, what('published through the edge'));
    t.is(metrics.value('relaymesh_edge_uplink_up', own), 1, what('uplink up'));
    t.is(metrics.value('relaymesh_edge_uplink_reconnects_total', own), 0, what('reconnects'));
    t.is(metrics.value('relaymesh_edge_replays_total', { ...own, source: 'cache' }), 0, what('cache replays'));
    t.is(metrics.value('relaymesh_edge_replays_total', { ...own, source: 'core' }), 0, what('core replays'));
    t.is(metrics.value('relaymesh_edge_slow_consumers_total', own), 0, what('slow consumers'));
    t.false(
      metrics.samples.some((sample) => sample.name === 'relaymesh_edge_rejected_connections_total'),
      what('no connection refused'),
    );
    t.true(
      metrics.samples.some(
        (sample) => sample.name === 'nodejs_eventloop_lag_seconds' && sample.labels.node === edge.id,
      ),
      what('event-loop lag'),
    );
    t.true(
      metrics.value('relaymesh_edge_uplink_messages_total', { ...own, direction: 'in' }) >= 1,
      what('uplink messages in'),
    );
    t.true(
      metrics.value('relaymesh_edge_uplink_frames_total', { ...own, direction: 'in' }) >= messageCount,
      what('uplink frames in'),
    );
  }

  const core = await scrape(mesh, mesh.core);
  const coreLabels = { role: 'core', node: mesh.core.id };
  t.is(core.value('relaymesh_core_published_total', coreLabels), messageCount);
  t.is(core.value('relaymesh_core_routed_total', coreLabels), messageCount * scenarioEdges.length);
  t.is(core.value('relaymesh_core_uplinks', coreLabels), scenarioEdges.length);

  // The edges' periodic reports reach the core, and the core's view reaches every edge.
  const figuresOk = (snapshot: MeshSnapshot): boolean =>
    snapshot.edges.length === scenarioEdges.length &&
    scenarioEdges.every(({ id }, e) => {
      const edge = snapshot.edges.find((candidate) => candidate.id === id);
      const n = clientsPerEdge[e]!;
      return (
        edge !== undefined &&
        edge.deliveries === n * messageCount &&
        edge.messagesIn === messageCount &&
        edge.sessions === n
      );
    });
  await within(mesh.core.meshUntil(figuresOk), 'the core sees every edge report its figures');
  await within(
    Promise.all(mesh.edges.map((edge) => edge.meshUntil(figuresOk))),
    "every edge sees every edge's figures",
  );

  for (const node of [mesh.core, ...mesh.edges]) {
    const snapshot = await getMesh(mesh, node);
    const via = node === mesh.core ? mesh.core.id : (node as { id: string }).id;
    t.is(snapshot.via, via);
    t.true(typeof snapshot.at === 'number' && snapshot.at > 0);
    t.is(snapshot.cores.length, 1, `${via}: one core`);
    t.like(snapshot.cores[0], {
      id: mesh.core.id,
      uplinks: scenarioEdges.length,
      published: messageCount,
      routed: messageCount * scenarioEdges.length,
    });
    t.deepEqual(
      snapshot.edges.map((edge) => edge.id).sort(),
      scenarioEdges.map((edge) => edge.id).sort(),
      `${via}: every edge`,
    );
    for (const [e, { id, region }] of scenarioEdges.entries()) {
      const n = clientsPerEdge[e]!;
      const edge = snapshot.edges.find((candidate) => candidate.id === id);
      t.like(
        edge,
        {
          id,
          region,
          core: mesh.core.id,
          healthy: true,
          draining: false,
          url: mesh.edges[e]!.url,
          sessions: n,
          topics: 1,
          deliveries: n * messageCount,
          messagesIn: messageCount,
          published: 0,
        },
        `${via} sees ${id}`,
      );
    }
  }

  const coreAfter = await scrape(mesh, mesh.core);
  for (const [e, { id, region }] of scenarioEdges.entries()) {
    t.is(
      coreAfter.value('relaymesh_core_edge_amplification', { ...coreLabels, edge: id }),
      clientsPerEdge[e]!,
      `core: amplification of ${id}`,
    );
    t.is(
      coreAfter.value('relaymesh_core_edge_sessions', { ...coreLabels, edge: id, region }),
      clientsPerEdge[e]!,
      `core: sessions of ${id}`,
    );
  }
});

test("a subscription with `since` inside the edge's recent cache is replayed from the cache", async (t) => {
  // No timer-driven uplink frames (pings, reports, digests): the test counts the frames the edge sends.
  const mesh = await startMesh(t, { edge: { uplink: { heartbeatMs: 600_000, statusMs: 600_000, digestMs: 600_000 } } });
  const edge = mesh.edges[0]!;
  const live = await RawClient.connected(t, edge.url);
  const answer = await live.subscribe('replay.cache', 1);
  t.is(answer.op, 'subok');
  const positions = [];
  for (let i = 1; i <= 10; i++) positions.push(await publish(mesh.core, 'replay.cache', i));
  await live.messages(10);
  const epoch = positions[0]!.epoch;

  const before = await scrape(mesh, edge);
  const own = { node: edge.id };
  t.is(before.value('relaymesh_edge_replays_total', { ...own, source: 'cache' }), 0);
  t.is(before.value('relaymesh_edge_replays_total', { ...own, source: 'core' }), 0);
  const framesOut = before.value('relaymesh_edge_uplink_frames_total', { ...own, direction: 'out' });

  const resuming = await RawClient.connected(t, edge.url, 'msgpack');
  const subok = await resuming.subscribe('replay.cache', 7, { epoch, offset: 5 });
  t.like(subok, { op: 'subok', epoch, offset: 10, recovered: true });
  const replayed = await resuming.messages(5);
  t.deepEqual(
    replayed.map((op) => op.offset),
    [6, 7, 8, 9, 10],
  );
  t.deepEqual(
    replayed.map((op) => op.data),
    [6, 7, 8, 9, 10],
  );

  const after = await scrape(mesh, edge);
  t.is(after.value('relaymesh_edge_replays_total', { ...own, source: 'cache' }), 1);
  t.is(after.value('relaymesh_edge_replays_total', { ...own, source: 'core' }), 0);
  // Nothing asked of the core: the one frame out is the report that the session is now present on the topic.
  t.is(after.value('relaymesh_edge_uplink_frames_total', { ...own, direction: 'out' }), framesOut + 1);
  t.is(after.value('relaymesh_edge_subscriptions', own), 2);
  t.is(after.value('relaymesh_edge_topics', own), 1);
});

test("a subscription with `since` older than the edge's recent cache is replayed from the core", async (t) => {
  const mesh = await startMesh(t, { edge: { recentMessages: 2 } });
  const edge = mesh.edges[0]!;
  const live = await RawClient.connected(t, edge.url);
  t.is((await live.subscribe('replay.core', 1)).op, 'subok');
  const positions = [];
  for (let i = 1; i <= 10; i++) positions.push(await publish(mesh.core, 'replay.core', i));
  await live.messages(10);
  const epoch = positions[0]!.epoch;

  const resuming = await RawClient.connected(t, edge.url);
  const subok = await resuming.subscribe('replay.core', 'r', { epoch, offset: 1 });
  t.like(subok, { op: 'subok', epoch, offset: 10, recovered: true });
  const replayed = await resuming.messages(9);
  t.deepEqual(
    replayed.map((op) => op.offset),
    [2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  t.deepEqual(
    replayed.map((op) => op.data),
    [2, 3, 4, 5, 6, 7, 8, 9, 10],
  );

  const metrics = await scrape(mesh, edge);
  const own = { node: edge.id };
  t.is(metrics.value('relaymesh_edge_replays_total', { ...own, source: 'core' }), 1);
  t.is(metrics.value('relaymesh_edge_replays_total', { ...own, source: 'cache' }), 0);
  // The replay is not fan-out: the counters of live traffic are unchanged by it.
  t.is(metrics.value('relaymesh_edge_messages_in_total', own), 10);
  t.is(metrics.value('relaymesh_edge_deliveries_total', own), 10);
});

test('past limits.maxConnections an upgrade gets 503 and is counted as rejected for capacity', async (t) => {
  const mesh = await startMesh(t, {
    edge: { limits: { maxConnections: 1 }, uplink: { heartbeatMs: 600_000, statusMs: 50 } },
  });
  const edge = mesh.edges[0]!;
  const first = await RawClient.connected(t, edge.url);
  t.is(edge.sessionCount, 1);

  t.is(await within(upgradeStatus(edge.url, {}), 'the refused upgrade'), 503);
  // An HTTP-streaming session is refused and counted the same way.
  const session = await fetch(`${mesh.http(edge)}/v1/session`, {
    method: 'POST',
    body: JSON.stringify({ op: 'connect' }),
  });
  t.is(session.status, 503);

  const metrics = await scrape(mesh, edge);
  const own = { node: edge.id };
  t.is(metrics.value('relaymesh_edge_rejected_connections_total', { ...own, reason: 'capacity' }), 2);
  t.is(metrics.value('relaymesh_edge_connections_total', { ...own, transport: 'websocket' }), 1);
  t.is(metrics.value('relaymesh_edge_sessions', { ...own, transport: 'websocket' }), 1);
  t.false(
    metrics.samples.some(
      (sample) => sample.name === 'relaymesh_edge_rejected_connections_total' && sample.labels.reason !== 'capacity',
    ),
  );

  // A full edge is not healthy: its own view says so, and so does the core once it has the report.
  const self = edge.mesh().edges.find((candidate) => candidate.id === edge.id);
  t.like(self, { sessions: 1, capacity: 1, healthy: false, draining: false });
  const seen = await within(
    mesh.core.meshUntil((snapshot) =>
      snapshot.edges.some((candidate) => candidate.id === edge.id && candidate.sessions === 1),
    ),
    'the core sees the full edge',
  );
  t.like(
    seen.edges.find((candidate) => candidate.id === edge.id),
    { capacity: 1, healthy: false },
  );

  // Room again once the client leaves.
  first.ws.close();
  await first.closed;
  await within(
    mesh.core.meshUntil((snapshot) =>
      snapshot.edges.some((candidate) => candidate.id === edge.id && candidate.sessions === 0 && candidate.healthy),
    ),
    'the edge reports room again',
  );
  t.is(await within(upgradeStatus(edge.url, {}), 'an upgrade with room'), 101);
});

test('a draining edge refuses WebSocket and HTTP-streaming clients, counted as rejected for draining', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const edge = mesh.edges[0]!;
  await edge.drain();
  t.is(await within(upgradeStatus(edge.url, {}), 'the refused upgrade'), 503);
  const session = await fetch(`${mesh.http(edge)}/v1/session`, {
    method: 'POST',
    body: JSON.stringify({ op: 'connect' }),
  });
  t.is(session.status, 503);
  t.is(
    (await scrape(mesh, edge)).value('relaymesh_edge_rejected_connections_total', {
      node: edge.id,
      reason: 'draining',
    }),
    2,
  );
});

test('an uplink cut and reconnection counts one reconnect; the uplink is up again', async (t) => {
  const mesh = await startMesh(t, {
    proxied: true,
    edge: { uplink: { heartbeatMs: 600_000, statusMs: 600_000, reconnectBaseMs: 10, reconnectMaxMs: 100 } },
  });
  const edge = mesh.edges[0]!;
  const other = mesh.edges[1]!;
  const own = { node: edge.id };
  t.is((await scrape(mesh, edge)).value('relaymesh_edge_uplink_reconnects_total', own), 0);

  const proxy = mesh.proxies[0]!;
  // Refused while cut, so the core surely sees the edge gone before it can come back.
  proxy.refuse(true);
  proxy.cut();
  await within(
    mesh.core.meshUntil((snapshot) => !snapshot.edges.some((candidate) => candidate.id === edge.id)),
    'the core sees the edge go',
  );
  proxy.refuse(false);
  // The edge reports at once when its uplink is up again.
  await within(
    mesh.core.meshUntil((snapshot) => snapshot.edges.some((candidate) => candidate.id === edge.id)),
    'the core sees the edge back',
  );
  await edge.ready();

  const metrics = await scrape(mesh, edge);
  t.is(metrics.value('relaymesh_edge_uplink_reconnects_total', own), 1);
  t.is(metrics.value('relaymesh_edge_uplink_up', own), 1);
  const untouched = await scrape(mesh, other);
  t.is(
    untouched.value('relaymesh_edge_uplink_reconnects_total', { node: other.id }),
    0,
    'the other edge never lost its uplink',
  );
  t.is(proxy.totalConnections, 2, 'one connection, then one reconnection');
});

// Replayed messages crossed the WAN once each, like live ones: amplification must not inflate after a resume.
test('after an uplink resume, the messages the core replays count as messages in and as WAN bytes saved', async (t) => {
  const mesh = await startMesh(t, {
    proxied: true,
    edge: { uplink: { heartbeatMs: 600_000, statusMs: 600_000, reconnectBaseMs: 10, reconnectMaxMs: 100 } },
  });
  const edge = mesh.edges[0]!;
  const clients = await Promise.all([0, 1, 2].map(() => RawClient.connected(t, edge.url)));
  for (const client of clients) t.is((await client.subscribe('resume.count', 1)).op, 'subok');
  const payloadBytes = packValue(data).length;
  for (let i = 0; i < 2; i++) await publish(mesh.core, 'resume.count', data);
  await within(Promise.all(clients.map((client) => client.messages(2))), 'the live messages');

  const proxy = mesh.proxies[0]!;
  proxy.refuse(true);
  proxy.cut();
  await within(
    mesh.core.meshUntil((snapshot) => !snapshot.edges.some((candidate) => candidate.id === edge.id)),
    'the core sees the edge go',
  );
  for (let i = 0; i < 4; i++) await publish(mesh.core, 'resume.count', data);
  proxy.refuse(false);
  await within(Promise.all(clients.map((client) => client.messages(6))), 'the replayed messages');

  const metrics = await scrape(mesh, edge);
  const own = { node: edge.id };
  t.is(metrics.value('relaymesh_edge_deliveries_total', own), 18);
  t.is(metrics.value('relaymesh_edge_messages_in_total', own), 6);
  t.is(metrics.value('relaymesh_edge_amplification', own), 3);
  t.is(metrics.value('relaymesh_edge_wan_bytes_saved_total', own), 2 * payloadBytes * 6);
});
