// What a hub may do, and what the hub path must not change (docs/protocol.md §6): with the topology's identities only
// a hub relays (`meshEdges`, `pubFrom`), and only for the edges behind it, with their URL and region from the topology;
// a plain edge that claims an edge's tunnels gets none of its streams; a hub's core side serves no HTTP API; an uplink
// that says nothing is dropped, and a hub's public port bounds uplinks per address; tunnels at an edge with workers
// reach a worker; presence counts through a hub stay exact past the 1,000 listed; and a hub answers a resume or a
// history range as the core behind it does, whatever it fetches ahead. Malicious edges are raw uplinks spoken by hand.

import { connect } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';
import { startCore, type CoreHandle, type CoreOptions, type KnownEdge } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { startHubCore } from '../hub/start-hub.js';
import { edgeProof } from '../shared/edge-proof.js';
import { closeCodes } from '../shared/errors.js';
import { idleReport, type EdgeReportRow, type EdgeRow } from '../shared/mesh-status.js';
import { frameType, protocolVersion, uplinkPath, type CoreFrame } from '../shared/protocol.js';
import type { Address, TunnelConfig } from '../shared/topology.js';
import { hubOn, startHubMesh } from './helpers/hub-mesh.js';
import { quietUplink, silentLogger } from './helpers/mesh.js';
import { askPresence, isEvent, listen, sessionOf } from './helpers/presence.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { RawUplink } from './helpers/raw-uplink.js';
import { echoService, readAll, startService } from './helpers/tcp-services.js';
import { within } from './helpers/within.js';

/** Generous: a loaded 2-core machine. */
const WAIT_MS = 30_000;

/**
 * The identities of a topology as cli/node-options.ts gives them to a core: `hub` is a hub with eu-1 behind it
 * (eu-1's cores are [hub, central]); us-1 and mallory are plain edges of the core.
 */
const secrets = new Map([
  ['hub', 'hub-secret-4c1d8e2f6a9b3c5d7e0f'],
  ['eu-1', 'eu1-secret-7f3c9a1e5b2d4c6e8a0f'],
  ['us-1', 'us1-secret-2b4d6f8a0c1e3a5c7e9b'],
  ['mallory', 'mallory-secret-d1e2f3a4b5c6d7e8f9'],
]);
const knownEdges = new Map<string, KnownEdge>([
  ['hub', { url: 'ws://hub.example', region: 'eu', behind: new Set(['eu-1']) }],
  ['eu-1', { url: 'ws://eu-1.example', region: 'eu' }],
  ['us-1', { url: 'ws://us-1.example', region: 'us' }],
  ['mallory', { url: 'ws://mallory.example', region: 'us' }],
]);
const topologyUrls = new Set([...knownEdges.values()].map((edge) => edge.url));

/** A healthy report: not draining, room for sessions. */
const report = (url: string): EdgeReportRow => [url, false, 0, 1000, 0, 0, 0, 0];
const row = (id: string, region: string, core: string, url: string): EdgeRow => [id, region, core, ...report(url)];

async function topologyCore(t: ExecutionContext, extra: Partial<CoreOptions> = {}): Promise<CoreHandle> {
  const core = await startCore({ id: 'central', logger: silentLogger, edgeSecrets: secrets, knownEdges, ...extra });
  t.teardown(() => core.close());
  return core;
}

/** A raw uplink saying it is `edgeId` (proving `secret` for the core's challenge, if given), once welcomed. */
async function helloAs(t: ExecutionContext, url: string, edgeId: string, secret?: string): Promise<RawUplink> {
  const uplink = await RawUplink.dial(t, url);
  const instance = `raw${edgeId.replace(/[^A-Za-z0-9]/g, '')}`;
  const proof = secret === undefined ? '' : edgeProof(secret, await uplink.challenge(), edgeId, instance);
  uplink.send([frameType.hello, protocolVersion, edgeId, 'xx', instance, proof]);
  await uplink.next((frame) => frame[0] === frameType.welcome);
  return uplink;
}

/** Frames of one uplink take effect in order: once this answer is back, everything sent before it was handled. */
let questions = 1000;
async function roundTrip(uplink: RawUplink): Promise<void> {
  const id = ++questions;
  uplink.send([frameType.presenceQuery, id, 'sync']);
  await uplink.next((frame) => frame[0] === frameType.presenceAnswer && frame[1] === id);
}

const answerTo =
  (id: number) =>
  (frame: CoreFrame): boolean =>
    (frame[0] === frameType.puback || frame[0] === frameType.error) && frame[1] === id;

interface Located {
  status: number;
  urls: string[];
}

/** Every candidate /v1/locate offers a client of `region`. */
async function locate(core: CoreHandle, region: string): Promise<Located> {
  const response = await fetch(`${core.url.replace(/^ws/, 'http')}/v1/locate?region=${region}`, {
    headers: { accept: 'application/json' },
  });
  const body = (await response.json()) as { candidates?: Array<{ url: string }> };
  return { status: response.status, urls: (body.candidates ?? []).map((candidate) => candidate.url) };
}

const fromTopology = (url: string): boolean => topologyUrls.has(url.replace(/\/v1\/ws$/, ''));

test('a plain edge that lists edges behind it is dropped (4400); its rows reach neither the mesh view nor /v1/locate', async (t) => {
  const core = await topologyCore(t);
  const mallory = await helloAs(t, core.url, 'mallory', secrets.get('mallory'));
  mallory.send(
    [frameType.edgeStatus, report('ws://mallory.example')],
    [
      frameType.meshEdges,
      [row('eu-1', 'eu', 'mallory', 'ws://evil.example'), row('ghost', 'eu', 'mallory', 'ws://evil-ghost.example')],
    ],
  );
  t.like(await within(mallory.closed, 'mallory dropped', WAIT_MS), { code: closeCodes.protocolViolation });
  const view = core.mesh();
  t.false(
    view.edges.some((edge) => edge.id === 'eu-1' || edge.id === 'ghost'),
    JSON.stringify(view.edges),
  );
  t.false(view.edges.some((edge) => edge.url.includes('evil')));
  const located = await locate(core, 'eu');
  t.false(
    located.urls.some((url) => url.includes('evil')),
    JSON.stringify(located),
  );
});

test("a hub's rows: an edge not behind it is dropped; one behind it gets its URL and region from the topology", async (t) => {
  const core = await topologyCore(t);
  const hub = await helloAs(t, core.url, 'hub', secrets.get('hub'));
  hub.send(
    [frameType.edgeStatus, report('ws://evil-hub.example')],
    [
      frameType.meshEdges,
      [
        row('eu-1', 'us', 'hub', 'ws://evil.example'),
        row('us-1', 'us', 'hub', 'ws://evil-us.example'),
        row('ghost', 'eu', 'hub', 'ws://evil-ghost.example'),
      ],
    ],
  );
  await roundTrip(hub);
  const view = core.mesh();
  t.like(
    view.edges.find((edge) => edge.id === 'eu-1'),
    { url: 'ws://eu-1.example', region: 'eu', healthy: true },
  );
  t.like(
    view.edges.find((edge) => edge.id === 'hub'),
    { url: 'ws://hub.example', region: 'eu' },
  );
  t.false(
    view.edges.some((edge) => edge.id === 'us-1' || edge.id === 'ghost'),
    JSON.stringify(view.edges),
  );
  const located = await locate(core, 'eu');
  t.is(located.status, 200);
  t.true(located.urls.length > 0 && located.urls.every(fromTopology), JSON.stringify(located));
  t.true(located.urls.includes('ws://eu-1.example/v1/ws'));
});

test("a plain edge's pubFrom is refused (4400) and sequences nothing", async (t) => {
  const core = await topologyCore(t);
  const mallory = await helloAs(t, core.url, 'mallory', secrets.get('mallory'));
  mallory.send([frameType.pubFrom, 1, 'prices', pack('forged'), 'us-1:guessed:1']);
  t.like(await within(mallory.closed, 'mallory dropped', WAIT_MS), { code: closeCodes.protocolViolation });
  t.is((await core.engine.position('prices')).offset, 0);
});

test("a hub's pubFrom: another edge's or a malformed origin is forbidden; a valid one is sequenced once, resends answered alike", async (t) => {
  const core = await topologyCore(t);
  const hub = await helloAs(t, core.url, 'hub', secrets.get('hub'));
  const refused = [
    'us-1:abc123:1', // an edge of the core, not behind this hub
    'mallory:abc123:1',
    'ghost:abc123:1',
    'eu-1', // malformed: no instance, no publish id
    'eu-1:abc123',
    'eu-1:abc123:seven',
    'eu-1:abc123:1:extra',
    `eu-1:${'i'.repeat(65)}:1`,
    `${'e'.repeat(201)}:abc123:1`,
    '',
  ];
  let id = 0;
  for (const origin of refused) {
    id++;
    hub.send([frameType.pubFrom, id, 'prices', pack({ forged: origin }), origin]);
    const answer = await hub.next(answerTo(id));
    t.deepEqual(answer.slice(0, 3), [frameType.error, id, 'forbidden'], `origin ${JSON.stringify(origin)}`);
  }
  t.is((await core.engine.position('prices')).offset, 0, 'nothing forbidden was sequenced');

  hub.send([frameType.pubFrom, ++id, 'prices', pack('relayed'), 'eu-1:abc123:7']);
  const first = await hub.next(answerTo(id));
  t.is(first[0], frameType.puback);
  // The edge's resend (say after the hub lost its answer) carries the same origin: the same position, not a new one.
  hub.send([frameType.pubFrom, ++id, 'prices', pack('relayed'), 'eu-1:abc123:7']);
  const again = await hub.next(answerTo(id));
  t.deepEqual(again.slice(2), first.slice(2));
  hub.send([frameType.pubFrom, ++id, 'prices', pack('next'), 'eu-1:abc123:8']);
  const next = await hub.next(answerTo(id));
  t.is(next[0], frameType.puback);
  t.is(next[3], (first[3] as number) + 1);
  t.like(await core.engine.position('prices'), { offset: 2 });
  t.is(hub.ws.readyState, WebSocket.OPEN);
});

test("a plain edge that claims an absent edge's tunnels gets none of its streams", async (t) => {
  const seen: Buffer[] = [];
  const bait = await startService(t, (socket) => socket.on('data', (chunk: Buffer) => seen.push(chunk)));
  const core = await topologyCore(t, {
    tunnels: [{ name: 'db', at: 'eu-1', connect: { host: '127.0.0.1', port: 1 } }],
    forwards: [{ listen: { host: '127.0.0.1', port: 0 }, tunnel: 'db' }],
  });
  // Mallory runs with a file of its own in which db is its own service.
  const mallory = await startEdge({
    id: 'mallory',
    region: 'us',
    cores: [{ id: 'central', url: core.url }],
    secret: secrets.get('mallory'),
    logger: silentLogger,
    uplink: quietUplink,
    tunnels: [{ name: 'db', at: 'mallory', connect: bait.address }],
  });
  t.teardown(() => mallory.close());
  await mallory.ready();
  await mallory.uplink.whenTunnelLinkReady(WAIT_MS);
  t.truthy(core.tunnelLinks.get('mallory'));
  mallory.uplink.reportEdgesBehind([row('eu-1', 'eu', 'mallory', 'ws://eu-1.example')]);
  // Either the core took the claim (eu-1 listed) or it dropped mallory's uplink for it.
  await core.meshUntil(
    (view) => view.edges.some((edge) => edge.id === 'eu-1') || !view.edges.some((edge) => edge.id === 'mallory'),
    WAIT_MS,
  );
  t.false(
    core.mesh().edges.some((edge) => edge.id === 'eu-1'),
    'the claim was not taken',
  );

  const forward = core.forwards[0]!;
  // Not half-open: the forward's end (FIN) closes this socket too.
  const socket = connect({ host: forward.host, port: forward.port });
  t.teardown(() => socket.destroy());
  const answer = readAll(socket);
  socket.on('connect', () => socket.write('PASSWORD=hunter2'));
  const { data } = await within(answer, 'the forward’s connection closed', WAIT_MS);
  t.is(data.length, 0);
  t.is(bait.accepted, 0, "mallory's service saw no stream");
  t.deepEqual(seen, []);
});

test("a hub's core side serves no HTTP API: publish and mesh answer 404 on its loopback port, even without keys", async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const hub = await hubOn(t, core, 'hub');
  const base = hub.hubCore.url.replace(/^ws/, 'http');
  const published = await fetch(`${base}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'prices', data: 'forged' }),
  });
  t.is(published.status, 404);
  t.is((await fetch(`${base}/v1/mesh`)).status, 404);
  t.is((await core.engine.position('prices')).offset, 0, 'nothing reached the core');
  // The hub's own client port still serves its API.
  t.is((await fetch(`${hub.url.replace(/^ws/, 'http')}/v1/mesh`)).status, 200);
});

test('an uplink that never says hello is dropped (4400), on a core and on a hub’s public port', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const hub = await hubOn(t, core, 'hub');
  const silent = await Promise.all([RawUplink.dial(t, core.url), RawUplink.dial(t, hub.url)]);
  const started = Date.now();
  // The deadline is 10 s (core/uplink-peer.ts); a ping answered meanwhile does not count as a hello.
  const closes = await within(Promise.all(silent.map((uplink) => uplink.closed)), 'silent uplinks dropped', WAIT_MS);
  for (const close of closes) t.is(close.code, closeCodes.protocolViolation);
  t.true(Date.now() - started >= 5_000, 'not before the deadline');
});

/** The HTTP status of an uplink upgrade: 101 when it opens (then kept open until teardown), else the refusal's. */
function uplinkUpgrade(t: ExecutionContext, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}${uplinkPath}`, { perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    ws.on('open', () => resolve(101));
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

test('on a hub’s public port, uplinks beyond maxConnectionsPerIp from one address get 429', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const hub = await hubOn(t, core, 'hub', {
    limits: { maxConnectionsPerIp: 2 },
  });
  // Two edges behind the hub, said hello (so no hello deadline closes them meanwhile).
  await helloAs(t, hub.url, 'eu-1');
  await helloAs(t, hub.url, 'eu-2');
  t.is(await uplinkUpgrade(t, hub.url), 429);
  t.is(await uplinkUpgrade(t, hub.url), 429);
});

test('--workers: a core forward to a tunnel at the edge reaches its service through a worker', async (t) => {
  const service = await echoService(t);
  const tunnels: TunnelConfig[] = [{ name: 'db', at: 'eu-1', connect: service.address }];
  const core = await startCore({
    id: 'central',
    logger: silentLogger,
    tunnels,
    forwards: [{ listen: { host: '127.0.0.1', port: 0 }, tunnel: 'db' }],
  });
  t.teardown(() => core.close());
  const { worker } = await workersEdge(t, core.url, tunnels);
  await worker.uplink.whenTunnelLinkReady(WAIT_MS);

  for (const request of ['ping', 'and again']) {
    const answer = await through(t, core.forwards[0]!, request);
    t.deepEqual(answer, { data: request, ended: 'end' });
  }
  t.is(service.accepted, 2);
});

/** Sends `request` on a new connection to `address`, half-closes, and reads the whole answer. */
async function through(
  t: ExecutionContext,
  address: Address,
  request: string,
): Promise<{ data: string; ended: string }> {
  const socket = connect({ host: address.host, port: address.port, allowHalfOpen: true });
  t.teardown(() => socket.destroy());
  const answer = readAll(socket);
  socket.on('connect', () => socket.end(request));
  const { data, ended } = await within(answer, 'the tunnel’s answer', WAIT_MS);
  return { data: data.toString(), ended };
}

test.serial('presence through a hub counts past 1,000: 1,500 members beyond it and one behind it', async (t) => {
  const mesh = await startHubMesh(t, { edges: 1 });
  const direct = await startEdge({
    id: 'us-1',
    region: 'us',
    cores: [{ id: 'central', url: mesh.core.url }],
    logger: silentLogger,
    uplink: quietUplink,
    limits: { maxConnectionsPerIp: 10_000 },
  });
  t.teardown(() => direct.close());
  await direct.ready();
  const topic = 'room.big';
  const watcher = await RawClient.connected(t, direct.url, 'msgpack');
  await listen(watcher, topic);
  // One member behind the hub; the core has it (as the hub's) once the watcher hears its join.
  const asker = await RawClient.connected(t, mesh.edges[0]!.url);
  t.is((await asker.subscribe(topic, 1)).op, 'subok');
  await watcher.next(isEvent('join', sessionOf(asker)), WAIT_MS);

  const beyond = 1500;
  for (let start = 1; start < beyond; start += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, beyond - start) }, async () => {
        const member = await RawClient.connected(t, direct.url, 'msgpack');
        await member.subscribe(topic, 1);
      }),
    );
  }
  // Asked on us-1's uplink after every join it reported: the core counts them all.
  t.like(await askPresence(watcher, topic, 'direct'), { count: beyond + 1 });

  const answer = await askPresence(asker, topic, 'through the hub');
  t.is(answer.op, 'presenceok');
  t.is(answer.count, beyond + 1);
  const members = answer.members as Array<{ session: string; edge: string }>;
  t.true(members.length <= 1000, `${members.length} listed`);
  t.is(new Set(members.map((member) => member.session)).size, members.length, 'listed once each');
});

test.serial(
  'resumes through a hub with 20 KB messages are answered as the core answers them, whatever it fetches ahead',
  async (t) => {
    t.timeout(120_000);
    // Small caches on the hub and the edges: the replays come from the core's history (4 MiB per replay by default).
    const mesh = await startHubMesh(t, { edges: 1, edge: { recentMessages: 8 } });
    const direct = await startEdge({
      id: 'us-1',
      region: 'us',
      cores: [{ id: 'central', url: mesh.core.url }],
      logger: silentLogger,
      uplink: quietUplink,
      recentMessages: 8,
    });
    t.teardown(() => direct.close());
    await direct.ready();
    const topic = 'big';
    const edges = { hub: mesh.edges[0]!.url, core: direct.url };
    // Followers keep the topic followed on both paths (the hub's engine far ahead of the older ranges).
    const followers = await Promise.all(Object.values(edges).map((url) => RawClient.connected(t, url, 'msgpack')));
    for (const follower of followers) t.is((await follower.subscribe(topic, 1)).op, 'subok');
    const total = 400;
    for (let n = 1; n <= total; n++) await mesh.core.engine.publish(topic, pack({ n, s: 'x'.repeat(20_000) }));
    for (const follower of followers) await follower.messages(total, WAIT_MS);
    const epoch = followers[0]!.received.find((op) => op.op === 'msg')!.epoch as string;

    const resume = async (url: string, offset: number): Promise<{ answer: Op; numbers: number[] }> => {
      const client = await RawClient.connected(t, url, 'msgpack');
      const answer = await client.subscribe(topic, 1, { epoch, offset });
      const numbers = answer.recovered
        ? (await client.messages(total - offset, WAIT_MS)).map((op) => (op.data as { n: number }).n)
        : [];
      return { answer, numbers };
    };
    // 100 missed: about 2 MB, within the bound.
    const [shortViaHub, shortDirect] = [await resume(edges.hub, 300), await resume(edges.core, 300)];
    t.like(shortDirect.answer, { op: 'subok', recovered: true, offset: total });
    t.like(shortViaHub.answer, { op: 'subok', recovered: true, offset: total });
    const expected = Array.from({ length: 100 }, (_, i) => 301 + i);
    t.deepEqual(shortDirect.numbers, expected);
    t.deepEqual(shortViaHub.numbers, expected);
    // 300 missed: about 6 MB, more than one replay carries.
    const [longViaHub, longDirect] = [await resume(edges.hub, 100), await resume(edges.core, 100)];
    t.like(longDirect.answer, { op: 'subok', recovered: false });
    t.like(longViaHub.answer, { op: 'subok', recovered: longDirect.answer.recovered, offset: total });

    // An edge behind the hub asks an older range of 100 (the hub is 200 messages past its end, so a fetch-ahead of
    // 256 would carry 5 MB): answered as the core answers it.
    const history = async (url: string): Promise<{ recovered: unknown; numbers: number[] }> => {
      const uplink = await helloAs(t, url, 'probe');
      uplink.send([frameType.history, 7, topic, epoch, 101, 200]);
      const end = await uplink.next((frame) => frame[0] === frameType.historyEnd && frame[1] === 7);
      const numbers = uplink.frames
        .filter((frame) => frame[0] === frameType.replay && frame[1] === 7)
        .map((frame) => (unpack(frame[3] as Uint8Array) as { n: number }).n);
      return { recovered: end[2], numbers };
    };
    const fromCore = await history(mesh.core.url);
    t.deepEqual(fromCore, { recovered: true, numbers: Array.from({ length: 100 }, (_, i) => 101 + i) });
    t.deepEqual(await history(mesh.hub.url), fromCore);
  },
);

// ── What honest nodes of a topology relay passes the guards: a hub's own clients' publishes, an edge's workers'.

test("a topology hub's own clients publish (their origin names the hub itself)", async (t) => {
  const core = await topologyCore(t);
  const hub = await hubOn(t, core, 'hub', {
    secret: secrets.get('hub'),
    edgeSecrets: secrets,
    knownEdges,
  });
  const client = await RawClient.connected(t, hub.url);
  client.send({ op: 'pub', id: 1, topic: 'prices', data: 'from a client of the hub' });
  t.like(await client.next((op) => op.id === 1), { op: 'puback', offset: 1 });
});

test('an edge with workers keeps its uplink to a topology core, and its clients publish', async (t) => {
  const core = await startCore({
    id: 'central',
    logger: silentLogger,
    knownEdges: new Map([['eu-1', { url: 'ws://eu-1.example', region: 'eu' }]]),
  });
  t.teardown(() => core.close());
  const { worker } = await workersEdge(t, core.url);
  const uplink = core.uplinks.get('eu-1');
  const client = await RawClient.connected(t, worker.url);
  client.send({ op: 'pub', id: 1, topic: 'prices', data: 'from a client of a worker' });
  t.like(await client.next((op) => op.id === 1), { op: 'puback', offset: 1 });
  t.truthy(uplink);
  t.is(core.uplinks.get('eu-1'), uplink, 'the same uplink all along');
});

/**
 * The edge eu-1 as `relaymesh edge --workers` runs it (cli/edge-workers.ts), with one worker: the primary is a hub core
 * hiding its workers, which dial it as `<id>.worker-N` with the run's secret.
 */
async function workersEdge(t: ExecutionContext, coreUrl: string, tunnels: TunnelConfig[] = []) {
  const workerSecret = 'worker-secret-0a1b2c3d4e5f';
  const primary = await startHubCore(
    {
      id: 'eu-1',
      region: 'eu',
      cores: [{ id: 'central', url: coreUrl }],
      logger: silentLogger,
      uplink: quietUplink,
      tunnels,
      edgeSecrets: new Map([['eu-1.worker-0', workerSecret]]),
      knownEdges: new Map([['eu-1.worker-0', { url: 'ws://eu-1.example', region: 'eu' }]]),
    },
    { report: () => idleReport('ws://eu-1.example'), hideEdges: true },
  );
  t.teardown(() => primary.close());
  primary.start();
  await primary.uplink.whenConnected(WAIT_MS);
  await primary.uplink.whenTunnelLinkReady(WAIT_MS);
  const worker = await startEdge({
    id: 'eu-1',
    workerId: 'eu-1.worker-0',
    region: 'eu',
    cores: [{ id: 'eu-1', url: primary.core.url }],
    secret: workerSecret,
    logger: silentLogger,
    uplink: quietUplink,
    tunnels,
  });
  t.teardown(() => worker.close());
  await worker.ready();
  return { primary, worker };
}
