// Tunnels through the mesh (docs/protocol.md §8), by every path and both entries: bytes exactly once and in order,
// half-closes both ways, and the ends a client sees when its service or its path is gone.

import test from 'ava';
import WebSocket from 'ws';
import type { MeshSnapshot } from '../shared/mesh-status.js';
import { startMesh } from './helpers/mesh.js';
import { connectTo, startTunnelMesh } from './helpers/tunnel-mesh.js';
import { digestOf, digestService, echoService, patternBytes, readAll } from './helpers/tcp-services.js';
import { within } from './helpers/within.js';
import { capturedLog } from './helpers/captured-log.js';

test('entry edge → core → service: a client that half-closes still reads the whole answer', async (t) => {
  const service = await digestService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { db: { connect: service.address } } });
  const client = await connectTo(t, mesh.forward('db'));
  const request = patternBytes(3 * 1024 * 1024, 1);
  const answer = readAll(client);
  client.end(request);
  const { data, ended } = await within(answer, 'the answer');
  t.is(data.toString(), digestOf(request));
  t.is(ended, 'end');
});

test('entry edge → core → branch edge → service, and the core’s forward → branch edge → service', async (t) => {
  const service = await digestService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { erp: { connect: service.address, at: 'eu-1' } } });
  for (const address of [mesh.forward('erp'), mesh.coreForward('erp')]) {
    const client = await connectTo(t, address);
    const request = patternBytes(1024 * 1024 + 17, address.port);
    const answer = readAll(client);
    client.end(request);
    t.is((await within(answer, 'the answer')).data.toString(), digestOf(request));
  }
});

test('tunnel bytes travel on the tunnel link beside the uplink, never on the uplink that carries pub/sub', async (t) => {
  const service = await digestService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { erp: { connect: service.address, at: 'eu-1' } } });
  t.truthy(mesh.core.tunnelLinks.get('eu-1'), 'the branch edge keeps a tunnel link');
  t.truthy(mesh.core.tunnelLinks.get('us-1'), 'the entry edge keeps a tunnel link');
  const health = await (await fetch(`${mesh.entry.url.replace(/^ws/, 'http')}/healthz`)).json();
  t.is(health.uplink.tunnelLink, 'connected');
  const uplinkBytes = async (edge: typeof mesh.entry) =>
    (await edge.metrics.uplinkBytes.get()).values.reduce((sum, { value }) => sum + value, 0);
  const before = [await uplinkBytes(mesh.entry), await uplinkBytes(mesh.branch)];
  const client = await connectTo(t, mesh.forward('erp'));
  const request = patternBytes(4 * 1024 * 1024, 5);
  const answer = readAll(client);
  client.end(request);
  t.is((await within(answer, 'the answer')).data.toString(), digestOf(request));
  const after = [await uplinkBytes(mesh.entry), await uplinkBytes(mesh.branch)];
  // Status reports and digests may go meanwhile: a few KiB, never the 4 MiB.
  t.true(after[0]! - before[0]! < 256 * 1024, `entry uplink carried ${after[0]! - before[0]!} bytes`);
  t.true(after[1]! - before[1]! < 256 * 1024, `branch uplink carried ${after[1]! - before[1]!} bytes`);
});

test('a mesh without tunnels keeps no tunnel links: one connection per edge', async (t) => {
  const mesh = await startMesh(t);
  t.is(mesh.core.uplinks.size, mesh.edges.length);
  t.is(mesh.core.tunnelLinks.size, 0);
});

test('a service that closes first: the client gets every byte, then the end, and may still send', async (t) => {
  const greeting = patternBytes(700_000, 3);
  const received: Buffer[] = [];
  const { startService } = await import('./helpers/tcp-services.js');
  let heardEnd!: () => void;
  const heard = new Promise<void>((resolve) => (heardEnd = resolve));
  const service = await startService(t, (socket) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', () => {
      heardEnd();
      socket.destroy();
    });
    socket.end(greeting);
  });
  const mesh = await startTunnelMesh(t, { tunnels: { motd: { connect: service.address, at: 'eu-1' } } });
  const client = await connectTo(t, mesh.forward('motd'));
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  await within(new Promise((resolve) => client.once('end', resolve)), 'the service’s end');
  t.deepEqual(Buffer.concat(chunks), greeting);
  client.end('still talking after the service closed its side');
  await within(heard, 'the client’s bytes and end at the service');
  t.is(Buffer.concat(received).toString(), 'still talking after the service closed its side');
});

test('by WebSocket: binary messages both ways, any boundaries; a text message closes 4400; unknown tunnel 404', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { echo: { connect: service.address, at: 'eu-1' } } });
  const ws = new WebSocket(mesh.tunnelUrl('echo'), 'binary');
  t.teardown(() => ws.terminate());
  await within(new Promise((resolve) => ws.once('open', resolve)), 'the upgrade');
  t.is(ws.protocol, 'binary');
  const sent = patternBytes(300_000, 9);
  const echoed: Buffer[] = [];
  let length = 0;
  const all = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer) => {
      echoed.push(data);
      length += data.length;
      if (length >= sent.length) resolve();
    }),
  );
  for (let offset = 0; offset < sent.length; offset += 7777) ws.send(sent.subarray(offset, offset + 7777));
  await within(all, 'the echo');
  t.deepEqual(Buffer.concat(echoed), sent);

  ws.send('text is not bytes');
  const code = await within(new Promise<number>((resolve) => ws.once('close', resolve)), 'the close');
  t.is(code, 4400);

  const unknown = new WebSocket(mesh.tunnelUrl('nope'));
  const status = await within(
    new Promise<number>((resolve) => unknown.once('unexpected-response', (_req, res) => resolve(res.statusCode!))),
    'the refusal',
  );
  t.is(status, 404);
});

test('each stream is counted and logged where it opens and closes (tunnel, entry, bytes, time; never its bytes)', async (t) => {
  const { logger, lines } = capturedLog();
  const service = await digestService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { db: { connect: service.address, at: 'eu-1' } },
    edge: { logger },
  });
  const client = await connectTo(t, mesh.forward('db'));
  const request = Buffer.from('SELECT secret_payload FROM vault;'.repeat(1000));
  const answer = readAll(client);
  client.end(request);
  const { data } = await within(answer, 'the answer');

  const entryLog = await within(
    (async () => {
      for (;;) {
        const closed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        const found = closed.find((entry) => entry.msg === 'tunnel stream closed' && entry.edge === 'us-1');
        if (found) return found;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })(),
    'the entry edge’s close line',
  );
  t.like(entryLog, { tunnel: 'db', entry: `tcp 127.0.0.1:${mesh.forward('db').port}`, toService: request.length });
  t.is(entryLog.fromService, data.length);
  t.is(typeof entryLog.ms, 'number');
  t.true(lines.some((line) => line.includes('"tunnel stream opened"') && line.includes('"edge":"eu-1"')));
  t.false(lines.join('').includes('secret_payload'), 'no payload in any log line');

  const metrics = await (await fetch(`${mesh.entry.url.replace(/^ws/, 'http')}/metrics`)).text();
  t.regex(
    metrics,
    new RegExp(`relaymesh_edge_tunnel_bytes_total\\{tunnel="db",direction="to_service"[^}]*\\} ${request.length}`),
  );
  t.regex(metrics, /relaymesh_edge_tunnel_streams\{tunnel="db"[^}]*\} 0/);
  const coreMetrics = await (await fetch(`${mesh.core.url.replace(/^ws/, 'http')}/metrics`)).text();
  t.regex(
    coreMetrics,
    new RegExp(`relaymesh_core_tunnel_bytes_total\\{tunnel="db",direction="from_service"[^}]*\\} ${data.length}`),
  );
  const view = (await (await fetch(`${mesh.core.url.replace(/^ws/, 'http')}/v1/mesh`)).json()) as MeshSnapshot;
  t.deepEqual(view.tunnels, [
    { name: 'db', at: 'eu-1', streams: 0, toService: request.length, fromService: data.length },
  ]);
});
