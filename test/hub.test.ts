// Hubs (docs/operations.md, "Hubs and workers"): edges behind a regional hub share its one uplink. One copy of each message
// crosses the WAN whatever the number of edges and subscribers; resumes, publishes, the mesh view and tunnels work
// through it as through a core; hubs chain.

import { connect } from 'node:net';
import test from 'ava';
import { startCore } from '../core/start-core.js';
import { behind, hubOn, startHubMesh } from './helpers/hub-mesh.js';
import { publish } from './helpers/http-publish.js';
import { fastUplink, quietUplink, silentLogger } from './helpers/mesh.js';
import { askPresence, isEvent, listen, sessionOf } from './helpers/presence.js';
import { RawClient } from './helpers/raw-client.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { digestOf, digestService, patternBytes, readAll } from './helpers/tcp-services.js';
import type { Address, TunnelConfig } from '../shared/topology.js';

const payload = 'x'.repeat(20_000);

test('one copy of each message crosses the WAN for three edges and their subscribers', async (t) => {
  const mesh = await startHubMesh(t);
  const clients: RawClient[] = [];
  for (const edge of mesh.edges)
    for (let i = 0; i < 4; i++) clients.push(await RawClient.connected(t, edge.url, 'msgpack'));
  clients.push(await RawClient.connected(t, mesh.hub.url));
  const answers = await Promise.all(clients.map((client) => client.subscribe('news', 1)));
  t.true(answers.every((op) => op.op === 'subok'));

  mesh.wan.resetCounters();
  const count = 10;
  for (let i = 0; i < count; i++) await publish(mesh.core, 'news', payload);
  for (const client of clients) t.is((await client.messages(count)).length, count);
  // One uplink all along: the hub's first report (before its edge reported) is a valid one.
  t.is(mesh.hub.upstream.reconnects, 0);
  t.is(mesh.wan.totalConnections, 1);
  const perMessage = mesh.wan.bytesFromTarget / count;
  t.true(perMessage >= payload.length, `${perMessage} bytes per message`);
  t.true(perMessage < payload.length * 1.2, `${perMessage} bytes per message: more than one copy`);
});

test('a publish from behind the hub reaches every edge, and a resume through the hub is recovered', async (t) => {
  const mesh = await startHubMesh(t, { edges: 2 });
  const [first, second] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];
  const subscriber = await RawClient.connected(t, second.url);
  await subscriber.subscribe('orders', 1);
  const publisher = await RawClient.connected(t, first.url);
  for (let n = 1; n <= 3; n++) {
    publisher.send({ op: 'pub', id: n, topic: 'orders', data: { n } });
    t.is((await publisher.next((op) => op.id === n)).op, 'puback');
  }
  const received = await subscriber.messages(3);
  t.deepEqual(
    received.map((op) => op.offset),
    [1, 2, 3],
  );
  const epoch = received[0]!.epoch as string;
  subscriber.ws.terminate();
  for (let n = 4; n <= 6; n++) await publish(mesh.core, 'orders', { n });

  const back = await RawClient.connected(t, first.url);
  const answer = await back.subscribe('orders', 2, { epoch, offset: 3 });
  t.like(answer, { op: 'subok', recovered: true, offset: 6 });
  t.deepEqual(
    (await back.messages(3)).map((op) => (op.data as { n: number }).n),
    [4, 5, 6],
  );
});

test('the core lists the edges behind the hub, and they see the whole mesh', async (t) => {
  const mesh = await startHubMesh(t, { edges: 2, edge: { uplink: { ...quietUplink, statusMs: 100 } } });
  const other = await startCore({ id: 'unused', logger: silentLogger });
  t.teardown(() => other.close());
  const seen = await mesh.core.meshUntil(
    (view) => ['eu-hub', 'eu-1', 'eu-2'].every((id) => view.edges.some((edge) => edge.id === id)),
    10_000,
  );
  t.is(seen.edges.find((edge) => edge.id === 'eu-1')?.core, 'eu-hub');
  const fromBehind = await mesh.edges[0]!.meshUntil(
    (view) => view.cores.some((core) => core.id === 'central') && view.edges.some((edge) => edge.id === 'eu-2'),
    10_000,
  );
  t.false(
    fromBehind.cores.some((core) => core.id === 'eu-hub'),
    'the hub is listed as an edge, not a core',
  );
});

test('hubs chain: edge → hub → hub → core, both ways', async (t) => {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const outer = await hubOn(t, core, 'hub-a');
  const inner = await hubOn(t, outer, 'hub-b');
  const deep = await behind(t, inner, 'eu-deep');
  const near = await behind(t, core, 'eu-near');
  await Promise.all([deep.ready(), near.ready()]);

  const deepClient = await RawClient.connected(t, deep.url);
  const nearClient = await RawClient.connected(t, near.url);
  await deepClient.subscribe('chain', 1);
  await nearClient.subscribe('chain', 1);
  deepClient.send({ op: 'pub', id: 2, topic: 'chain', data: 'from deep' });
  nearClient.send({ op: 'pub', id: 2, topic: 'chain', data: 'from near' });
  for (const client of [deepClient, nearClient]) {
    const messages = await client.messages(2);
    t.deepEqual(messages.map((op) => op.data).sort(), ['from deep', 'from near']);
  }
});

test('tunnel streams pass through the hub both ways: to a service the core dials, and to one behind the hub', async (t) => {
  const [central, branchService] = [await digestService(t), await digestService(t)];
  const tunnels: TunnelConfig[] = [
    { name: 'central-db', connect: central.address },
    { name: 'branch-erp', connect: branchService.address, at: 'eu-1' },
  ];
  const anyPort = { host: '127.0.0.1', port: 0 };
  const mesh = await startHubMesh(t, {
    edges: 0,
    core: { tunnels, forwards: [{ listen: anyPort, tunnel: 'branch-erp' }] },
    edge: { tunnels },
  });
  const branch = await behind(t, mesh.hub, 'eu-1', mesh.core, { tunnels });
  const entry = await behind(t, mesh.hub, 'eu-2', mesh.core, {
    tunnels,
    forwards: [{ listen: anyPort, tunnel: 'central-db' }],
  });
  await Promise.all([branch.ready(), entry.ready()]);
  // The core learns that eu-1 is behind the hub from the hub's list of its edges.
  await mesh.core.meshUntil((view) => view.edges.some((edge) => edge.id === 'eu-1'), 10_000);

  const through = async (address: Address, bytes: Buffer): Promise<string> => {
    const socket = connect(address.port, address.host);
    const answer = readAll(socket);
    socket.end(bytes);
    return (await answer).data.toString();
  };
  const up = patternBytes(300_000, 1);
  t.is(await through(entry.forwards[0]!, up), digestOf(up), 'edge behind the hub → core → service');
  const down = patternBytes(300_000, 2);
  t.is(await through(mesh.core.forwards[0]!, down), digestOf(down), 'core forward → hub → edge behind it → service');
});

test('a draining hub sends the edges behind it to the core at once; their clients keep their sockets and miss nothing', async (t) => {
  const mesh = await startHubMesh(t, { edges: 2, edge: { uplink: fastUplink } });
  const clients = await Promise.all(mesh.edges.map((edge) => RawClient.connected(t, edge.url)));
  await Promise.all(clients.map((client) => client.subscribe('moves', 1)));
  for (let n = 1; n <= 3; n++) await publish(mesh.core, 'moves', { n });
  await Promise.all(clients.map((client) => client.messages(3)));

  const drained = mesh.hub.drain();
  await mesh.core.meshUntil(() => ['eu-1', 'eu-2'].every((id) => mesh.core.uplinks.has(id)), 10_000);
  await drained;
  for (let n = 4; n <= 6; n++) await publish(mesh.core, 'moves', { n });
  for (const client of clients) {
    const received = await client.messages(6);
    t.deepEqual(
      received.map((op) => (op.data as { n: number }).n),
      [1, 2, 3, 4, 5, 6],
    );
    t.is(client.ws.readyState, client.ws.OPEN);
  }
  // Draining, the hub answers 503, so the edges do not fail back to it.
  t.is((await fetch(`${mesh.hub.url.replace(/^ws/, 'http')}/healthz`)).status, 503);
});

test('presence spans the hub: counts and joins and leaves both ways, members behind it shown under it beyond it', async (t) => {
  const mesh = await startHubMesh(t, { edges: 1 });
  const direct = await behind(t, mesh.core, 'us-1');
  await direct.ready();
  const [behindHub] = mesh.edges as [(typeof mesh.edges)[0]];
  const watcherBehind = await RawClient.connected(t, behindHub.url);
  const watcherDirect = await RawClient.connected(t, direct.url);
  await listen(watcherBehind, 'room');
  await listen(watcherDirect, 'room');

  const memberBehind = await RawClient.connected(t, behindHub.url);
  await memberBehind.subscribe('room', 1);
  const memberDirect = await RawClient.connected(t, direct.url);
  await memberDirect.subscribe('room', 1);
  const [behindId, directId] = [sessionOf(memberBehind), sessionOf(memberDirect)];
  t.like(await watcherDirect.next(isEvent('join', behindId)), { edge: 'eu-hub' });
  t.like(await watcherBehind.next(isEvent('join', behindId)), { edge: 'eu-1' });
  t.like(await watcherBehind.next(isEvent('join', directId)), { edge: 'us-1' });

  // Four present: both watchers and both members, whoever asks.
  for (const asker of [watcherBehind, watcherDirect]) {
    const answer = await askPresence(asker, 'room', `count ${sessionOf(asker)}`);
    t.like(answer, { op: 'presenceok', count: 4 });
  }
  memberBehind.ws.close();
  await watcherDirect.next(isEvent('leave', behindId));
  memberDirect.ws.close();
  await watcherBehind.next(isEvent('leave', directId));
  t.like(await askPresence(watcherBehind, 'room', 'after'), { count: 2 });
});

test('presence stays true when an edge fails over from behind the hub to the core and back: no false leave or second join', async (t) => {
  const graceMs = 300;
  const mesh = await startHubMesh(t, {
    edges: 1,
    core: { presenceGraceMs: graceMs },
    edge: { limits: { presenceGraceMs: graceMs }, uplink: { ...fastUplink, heartbeatMs: 2000 } },
  });
  const [watchedBehind] = mesh.edges as [(typeof mesh.edges)[0]];
  // eu-mover reaches the hub through a link the test can cut (and refuse), the core directly.
  const link = await startTcpProxy({ target: mesh.hub.address });
  t.teardown(() => link.close());
  const mover = await behind(t, { id: 'eu-hub', url: link.url }, 'eu-mover', mesh.core, {
    uplink: { ...fastUplink, heartbeatMs: 2000 },
  });
  const direct = await behind(t, mesh.core, 'us-1');
  await Promise.all([mover.ready(), direct.ready()]);

  const watchers = [await RawClient.connected(t, watchedBehind.url), await RawClient.connected(t, direct.url)];
  for (const watcher of watchers) await listen(watcher, 'room');
  const member = await RawClient.connected(t, mover.url);
  await member.subscribe('room', 1);
  const memberId = sessionOf(member);
  for (const watcher of watchers) await watcher.next(isEvent('join', memberId));

  const settled = async (marker: string): Promise<void> => {
    // Past both grace periods, then a marker member joins: a false leave (or join) would have come before its join.
    await new Promise((resolve) => setTimeout(resolve, graceMs * 3));
    const other = await RawClient.connected(t, direct.url);
    await other.subscribe('room', marker);
    for (const watcher of watchers) await watcher.next(isEvent('join', sessionOf(other)));
  };
  link.refuse(true);
  link.cut();
  await mesh.core.meshUntil(() => mesh.core.uplinks.has('eu-mover'), 20_000);
  await settled('after failover');
  link.refuse(false);
  await mesh.hub.hubCore.meshUntil(() => mesh.hub.hubCore.uplinks.has('eu-mover'), 20_000);
  await settled('after failback');

  for (const watcher of watchers) {
    const about = watcher.received.filter((op) => op.session === memberId);
    t.deepEqual(
      about.map((op) => op.op),
      ['join'],
      `one join and nothing else: ${JSON.stringify(about)}`,
    );
  }
  t.is(member.ws.readyState, member.ws.OPEN);
});
