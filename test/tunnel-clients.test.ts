// The ways into a tunnel without a forward of the mesh's own (docs/protocol.md §8): the SDK's openTunnel (a Duplex in
// Node, a TunnelStream in browsers), the `relaymesh forward` command, and the token's `tunnels` claim on WebSocket.

import { once } from 'node:events';
import { connect } from 'node:net';
import test from 'ava';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { MeshClient, TunnelError, type WebSocketFactory } from '../client/mesh-client.js';
import { NodeMeshClient } from '../client/node.js';
import { MeshError } from '../client/mesh-error.js';
import { freePorts, startCli } from './helpers/cli.js';
import { echoService, patternBytes, readAll } from './helpers/tcp-services.js';
import { startTunnelMesh } from './helpers/tunnel-mesh.js';
import { within } from './helpers/within.js';

const secret = 'tunnel-test-secret-of-at-least-32-bytes!';
process.env.RELAYMESH_TUNNEL_TEST_SECRET = secret;
const tokens = { alg: 'HS256' as const, secretEnv: 'RELAYMESH_TUNNEL_TEST_SECRET' };

function mint(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(secret));
}

/** Resolves with the first `length` bytes `stream` emits as `data`. */
function firstBytes(
  stream: { on(event: 'data', listener: (chunk: Buffer) => void): unknown },
  length: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  return new Promise((resolve) =>
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= length) resolve(Buffer.concat(chunks));
    }),
  );
}

test('Node SDK: openTunnel gives a Duplex; ending it ends the stream cleanly at the service too', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { echo: { connect: service.address } } });
  const client = new NodeMeshClient({ url: mesh.entry.url });
  t.teardown(() => client.close());
  const stream = await client.openTunnel('echo');
  const sent = patternBytes(2_000_000, 4);
  const echoed = firstBytes(stream, sent.length);
  stream.write(sent);
  t.deepEqual(await within(echoed, 'the echo'), sent);
  const closed = once(stream, 'close');
  stream.end();
  await within(closed, 'the close');
  t.is(stream.errored, null);
  await within(
    new Promise<void>((resolve) => {
      const [socket] = service.sockets;
      if (!socket) return resolve();
      socket.once('close', () => resolve());
    }),
    'the service’s socket to close',
  );
});

test('Node SDK: an echo both ways, then a lost path destroys the Duplex with a TunnelError (4504)', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' } },
    proxied: true,
  });
  const client = new NodeMeshClient({ url: mesh.entry.url });
  t.teardown(() => client.close());
  const stream = await client.openTunnel('echo');
  const sent = patternBytes(500_000, 5);
  const received: Buffer[] = [];
  let length = 0;
  const echoed = new Promise<void>((resolve) =>
    stream.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (length === sent.length) resolve();
    }),
  );
  stream.write(sent);
  await within(echoed, 'the echo');
  t.deepEqual(Buffer.concat(received), sent);

  const failed = once(stream, 'error');
  mesh.proxies.branch!.cut();
  const [error] = (await within(failed, 'the lost path')) as [TunnelError];
  t.true(error instanceof TunnelError);
  t.is(error.closeCode, 4504);
});

test('browser SDK: a TunnelStream over any WebSocket; refusals are errors before the stream opens', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { echo: { connect: service.address, at: 'eu-1' } } });
  const client = new MeshClient({ url: mesh.entry.url, WebSocket: WebSocket as unknown as WebSocketFactory });
  t.teardown(() => client.close());
  const stream = await client.openTunnel('echo');
  const received: Uint8Array[] = [];
  const echoed = new Promise<void>((resolve) =>
    stream.on('data', (bytes) => {
      received.push(bytes);
      if (Buffer.concat(received).toString() === 'hello through the mesh') resolve();
    }),
  );
  stream.write('hello through the mesh');
  await within(echoed, 'the echo');
  const closed = new Promise<MeshError | undefined>((resolve) => stream.on('close', resolve));
  stream.close();
  t.is(await within(closed, 'the close'), undefined, 'a close of our own is a normal end');
  const refused = await t.throwsAsync(client.openTunnel('nope'));
  t.true(refused instanceof MeshError);
});

test('tokens: without one 401, without the tunnel in its claim 403, with it (query or Bearer) the stream opens', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' }, other: { connect: service.address, at: 'eu-1' } },
    edge: { tokens },
  });
  const statusOf = async (url: string, headers: Record<string, string> = {}): Promise<number> => {
    const ws = new WebSocket(url, { headers });
    ws.on('error', () => undefined);
    t.teardown(() => ws.terminate());
    return within(
      new Promise<number>((resolve) => {
        ws.once('open', () => resolve(101));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!));
      }),
      `the answer to ${url}`,
    );
  };
  const echoOnly = await mint({ tunnels: ['echo'] });
  const everything = await mint({ tunnels: ['*'] });
  const topicsOnly = await mint({ topics: { subscribe: ['>'], publish: ['>'] } });
  t.is(await statusOf(mesh.tunnelUrl('echo')), 401);
  t.is(await statusOf(`${mesh.tunnelUrl('echo')}?token=not-a-jwt`), 401);
  t.is(await statusOf(`${mesh.tunnelUrl('echo')}?token=${topicsOnly}`), 403);
  t.is(await statusOf(`${mesh.tunnelUrl('other')}?token=${echoOnly}`), 403);
  t.is(await statusOf(`${mesh.tunnelUrl('echo')}?token=${echoOnly}`), 101);
  t.is(await statusOf(mesh.tunnelUrl('other'), { authorization: `Bearer ${everything}` }), 101);
  // The Node SDK sends its token as a header and turns the refusal into an error that says why.
  const client = new NodeMeshClient({ url: mesh.entry.url, token: echoOnly });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.openTunnel('other'));
  t.is((error as MeshError).code, 'forbidden');
  const stream = await client.openTunnel('echo');
  stream.destroy();
});

test('relaymesh forward: a local port carried over WebSocket; a refused service closes without data', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' }, down: { connect: { host: '127.0.0.1', port: 1 } } },
  });
  const [port, downPort] = (await freePorts(2)) as [number, number];
  const forward = startCli(t, ['forward', '--url', mesh.tunnelUrl('echo'), '--listen', `127.0.0.1:${port}`]);
  const down = startCli(t, ['forward', '--url', mesh.tunnelUrl('down'), '--listen', `127.0.0.1:${downPort}`]);
  await forward.waitFor(() => forward.stderr.includes('forwarding'), 'the listener');
  await down.waitFor(() => down.stderr.includes('forwarding'), 'the listener');

  const socket = connect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  const sent = patternBytes(1_000_000, 6);
  const echoed = firstBytes(socket, sent.length);
  socket.write(sent);
  t.deepEqual(await within(echoed, 'the echo through the forward'), sent);
  const closed = readAll(socket);
  socket.end();
  await within(closed, 'the forward to close');

  const refused = connect({ host: '127.0.0.1', port: downPort });
  t.teardown(() => refused.destroy());
  refused.write('anyone there?');
  // Through two more processes (the forward, the mesh's nodes) on a loaded machine: a generous deadline.
  const nothing = await within(readAll(refused), 'the refused stream to close', 30_000);
  t.is(nothing.data.length, 0);
});
