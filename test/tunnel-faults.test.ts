// Tunnels when things go wrong (docs/protocol.md §8): an unreachable service, a cut uplink, a drain, a reader that
// stops reading, limits, forged stream frames; and at scale: many streams at once, 100 MB each way byte-exact.

import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import WebSocket from 'ws';
import { frameType } from '../shared/protocol.js';
import { streamMaxWindowBytes, streamWindowBytes } from '../shared/stream-mux.js';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeOptions } from '../edge/start-edge.js';
import { quietUplink, silentLogger } from './helpers/mesh.js';
import { RawUplink } from './helpers/raw-uplink.js';
import {
  digestOf,
  digestService,
  echoService,
  patternBytes,
  readAll,
  startService,
  unansweringAddress,
} from './helpers/tcp-services.js';
import { connectTo, startTunnelMesh } from './helpers/tunnel-mesh.js';
import { within } from './helpers/within.js';

/** Sends `bytes` through `socket`, then half-closes, and resolves with the answer. */
async function exchange(socket: Socket, bytes: Buffer): Promise<{ data: Buffer; ended: string }> {
  const answer = readAll(socket);
  socket.end(bytes);
  return within(answer, 'the answer', 60_000);
}

/** The close code a tunnel WebSocket gets, or the HTTP status that refused it. */
function outcomeOf(ws: WebSocket): Promise<{ status?: number; code?: number }> {
  ws.on('error', () => undefined);
  return within(
    new Promise((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
      ws.once('close', (code) => resolve({ code }));
    }),
    'the tunnel WebSocket to end',
  );
}

const nowhere = { host: '127.0.0.1', port: 1 };

test('an unreachable service: a TCP entry is closed without data, a WebSocket with 4502; by either dialler', async (t) => {
  const mesh = await startTunnelMesh(t, {
    tunnels: { core: { connect: nowhere }, branch: { connect: nowhere, at: 'eu-1' } },
  });
  for (const tunnel of ['core', 'branch']) {
    const client = await connectTo(t, mesh.forward(tunnel));
    const { data, ended } = await exchange(client, Buffer.from('hello?'));
    t.is(data.length, 0, tunnel);
    t.is(ended, 'end', `${tunnel}: closed, not reset`);
    const ws = new WebSocket(mesh.tunnelUrl(tunnel));
    t.teardown(() => ws.terminate());
    t.deepEqual(await outcomeOf(ws), { code: 4502 }, tunnel);
  }
});

test('a service that never answers is refused after tunnelConnectTimeoutMs: TCP closed without data, WebSocket 4502', async (t) => {
  const stuck = await unansweringAddress(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { core: { connect: stuck }, branch: { connect: stuck, at: 'eu-1' } },
    core: { tunnelLimits: { tunnelConnectTimeoutMs: 300 } },
    edge: { limits: { tunnelConnectTimeoutMs: 300 } },
  });
  for (const tunnel of ['core', 'branch']) {
    const client = await connectTo(t, mesh.forward(tunnel));
    const { data, ended } = await exchange(client, Buffer.from('anyone there?'));
    t.is(data.length, 0, tunnel);
    t.is(ended, 'end', `${tunnel}: closed, not reset`);
    const ws = new WebSocket(mesh.tunnelUrl(tunnel));
    t.teardown(() => ws.terminate());
    t.deepEqual(await outcomeOf(ws), { code: 4502 }, tunnel);
  }
});

test('a cut uplink ends its streams at once (TCP reset, WebSocket 4504); new streams take the healed path', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' } },
    proxied: true,
    // The cut resets the sockets, so it is seen at once; no heartbeat that a loaded machine could miss.
    edge: { uplink: { ...quietUplink, reconnectBaseMs: 10, reconnectMaxMs: 100 } },
  });
  const client = await connectTo(t, mesh.forward('echo'));
  const clientEnd = readAll(client);
  client.write('before the cut');
  await within(new Promise((resolve) => client.once('data', resolve)), 'the echo before the cut');
  const ws = new WebSocket(mesh.tunnelUrl('echo'));
  t.teardown(() => ws.terminate());
  await within(new Promise((resolve) => ws.once('open', resolve)), 'the WebSocket');
  const wsEnd = outcomeOf(ws);

  mesh.proxies.entry!.cut();
  t.is((await within(clientEnd, 'the reset')).ended, 'ECONNRESET');
  t.deepEqual(await wsEnd, { code: 4504 });

  await mesh.entry.ready();
  const again = await connectTo(t, mesh.forward('echo'));
  const sent = patternBytes(100_000, 2);
  t.deepEqual((await exchange(again, sent)).data, sent);
});

test('a drain refuses new streams and lets open ones run; once they end, the drain is over', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' } },
    edge: { limits: { drainGraceMs: 120_000 } },
  });
  const open = await connectTo(t, mesh.forward('echo'));
  const drained = mesh.entry.drain();
  t.true(mesh.entry.draining);

  const refused = await connectTo(t, mesh.forward('echo'));
  t.is((await exchange(refused, Buffer.from('let me in'))).data.length, 0);
  t.deepEqual(await outcomeOf(new WebSocket(mesh.tunnelUrl('echo'))), { status: 503 });

  const sent = patternBytes(200_000, 3);
  t.deepEqual((await exchange(open, sent)).data, sent, 'the open stream runs on');
  await within(drained, 'the drain, once the last stream ended');
});

test('a drain resets the streams still open when its grace is over', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address } },
    edge: { limits: { drainGraceMs: 100 } },
  });
  const open = await connectTo(t, mesh.forward('echo'));
  const ended = readAll(open);
  open.write('still here');
  await within(new Promise((resolve) => open.once('data', resolve)), 'the echo');
  await within(mesh.entry.drain(), 'the drain');
  t.is((await within(ended, 'the reset')).ended, 'ECONNRESET');
});

test('a reader that stops reading holds back its own service only; the other streams on its uplinks flow on', async (t) => {
  const total = 256 * 1024 * 1024;
  const chunk = patternBytes(256 * 1024, 7);
  let handed = 0;
  const flooding = await startService(t, (socket) => {
    let written = 0;
    const pour = (): void => {
      while (written < total) {
        written += chunk.length;
        // Counted once the kernel took it: what got past the service's own buffer.
        if (!socket.write(chunk, () => (handed += chunk.length))) return;
      }
    };
    socket.on('drain', pour);
    pour();
  });
  const echo = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { flood: { connect: flooding.address, at: 'eu-1' }, echo: { connect: echo.address, at: 'eu-1' } },
  });
  const stalled = await connectTo(t, mesh.forward('flood'));
  stalled.pause();
  const otherStreams = async (seed: number): Promise<void> => {
    for (let i = 0; i < 4; i++) {
      const other = await connectTo(t, mesh.forward('echo'));
      const sent = patternBytes(1_000_000, seed + i);
      t.deepEqual((await exchange(other, sent)).data, sent, 'another stream on the same uplinks');
    }
  };
  // While other streams cross the same uplinks, the stalled one fills its windows (which grew while the kernel's
  // buffers still took its bytes) and those buffers, then stops: a round of other streams lets nothing more through.
  let heldAt = -1;
  for (let round = 0; handed !== heldAt; round++) {
    if (round === 8) return t.fail(`the stalled stream still moves: ${handed} bytes left the service`);
    heldAt = handed;
    await otherStreams(10 * round);
  }
  // Three hops, each at most one grown window, and the kernel's socket buffers.
  t.true(handed < total / 4, `${handed} bytes left the service`);
  t.true(mesh.entry.uplink.tunnelBufferedBytes <= streamMaxWindowBytes);
  t.true(mesh.core.tunnelLinks.get('eu-1')!.tunnelBufferedBytes <= streamMaxWindowBytes);
});

test('200 streams at once, from four addresses: each gets its own answer, byte-exact', async (t) => {
  const service = await digestService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { digest: { connect: service.address, at: 'eu-1' } } });
  const { host, port } = mesh.forward('digest');
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const socket = connect({ host, port, localAddress: `127.0.0.${2 + (i % 4)}`, allowHalfOpen: true });
      t.teardown(() => socket.destroy());
      const request = patternBytes(20_000 + i * 97, 100 + i);
      const { data } = await exchange(socket, request);
      return data.toString() === digestOf(request);
    }),
  );
  t.is(results.filter(Boolean).length, 200);
  t.is(service.accepted, 200);
});

test('100 MB each way through entry edge, core and branch edge: byte-exact by SHA-256', async (t) => {
  const size = 100 * 1024 * 1024;
  const chunk = patternBytes(1024 * 1024, 11);
  const sender = await startService(t, (socket) => {
    let sent = 0;
    const pour = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!socket.write(chunk)) return;
      }
      socket.end();
    };
    socket.on('drain', pour);
    pour();
  });
  const digest = await digestService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { upload: { connect: digest.address, at: 'eu-1' }, download: { connect: sender.address, at: 'eu-1' } },
  });
  const expected = createHash('sha256');
  for (let sent = 0; sent < size; sent += chunk.length) expected.update(chunk);
  const expectedDigest = expected.digest('hex');

  const upload = await connectTo(t, mesh.forward('upload'));
  const uploaded = readAll(upload);
  let written = 0;
  const push = (): void => {
    while (written < size) {
      written += chunk.length;
      if (!upload.write(chunk)) return;
    }
    upload.end();
  };
  upload.on('drain', push);
  push();
  t.is((await within(uploaded, 'the upload’s digest', 120_000)).data.toString(), `${size} ${expectedDigest}`);

  const download = await connectTo(t, mesh.forward('download'));
  const hash = createHash('sha256');
  let received = 0;
  download.on('data', (data: Buffer) => {
    hash.update(data);
    received += data.length;
  });
  await within(new Promise((resolve) => download.once('end', resolve)), 'the download', 120_000);
  t.is(received, size);
  t.is(hash.digest('hex'), expectedDigest);
});

test('limits: streams per address, streams per edge; a TCP entry is closed without data, a WebSocket refused', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' } },
    edge: { limits: { maxTunnelStreamsPerAddress: 2, maxTunnelStreams: 3 } },
  });
  const { host, port } = mesh.forward('echo');
  const tcp = (localAddress: string): Socket => {
    const socket = connect({ host, port, localAddress, allowHalfOpen: true });
    t.teardown(() => socket.destroy());
    return socket;
  };
  const open = async (localAddress: string): Promise<void> => {
    const socket = tcp(localAddress);
    socket.write('ping');
    await within(new Promise((resolve) => socket.once('data', resolve)), `a stream from ${localAddress}`);
  };
  const tunnelSocket = (localAddress: string): WebSocket => {
    const ws = new WebSocket(mesh.tunnelUrl('echo'), { localAddress });
    t.teardown(() => ws.terminate());
    return ws;
  };
  await open('127.0.0.2');
  await open('127.0.0.2');
  t.is((await exchange(tcp('127.0.0.2'), Buffer.from('ping'))).data.length, 0, 'the address has its two');
  t.deepEqual(await outcomeOf(tunnelSocket('127.0.0.2')), { status: 429 });
  await open('127.0.0.3');
  t.is((await exchange(tcp('127.0.0.4'), Buffer.from('ping'))).data.length, 0, 'the edge has its three');
  t.deepEqual(await outcomeOf(tunnelSocket('127.0.0.4')), { status: 503 });
});

/** A hand-spoken edge `id` (in a mesh without edge secrets): its uplink, then its tunnel link, both welcomed. */
async function rawEdge(
  t: ExecutionContext,
  coreUrl: string,
  id: string,
): Promise<{ uplink: RawUplink; link: RawUplink }> {
  const hello = [frameType.hello, 4, id, 'xx', `${id}-instance`, ''] as const;
  const uplink = await RawUplink.dial(t, coreUrl);
  uplink.send([...hello]);
  await uplink.next((frame) => frame[0] === frameType.welcome);
  const link = await RawUplink.dial(t, coreUrl, 'tunnels');
  link.send([...hello]);
  await link.next((frame) => frame[0] === frameType.welcome);
  return { uplink, link };
}

test('forged stream frames close the tunnel link as a protocol violation; the core serves others on', async (t) => {
  const service = await echoService(t);
  const mesh = await startTunnelMesh(t, { tunnels: { echo: { connect: service.address } } });
  const forger = await rawEdge(t, mesh.core.url, 'forger');
  forger.link.send([frameType.streamData, 1, Buffer.from('never opened')]);
  t.is((await within(forger.link.closed, 'the close')).code, 4400);

  const beyond = await rawEdge(t, mesh.core.url, 'beyond');
  beyond.link.send([frameType.streamOpen, 1, 'echo'], [frameType.streamData, 1, Buffer.alloc(streamWindowBytes + 1)]);
  t.is((await within(beyond.link.closed, 'the close')).code, 4400);

  // Each link carries its own frames only.
  const mixed = await rawEdge(t, mesh.core.url, 'mixed');
  mixed.link.send([frameType.unsub, 'chat.lobby']);
  t.is((await within(mixed.link.closed, 'the close')).code, 4400);
  mixed.uplink.send([frameType.streamOpen, 1, 'echo']);
  t.is((await within(mixed.uplink.closed, 'the close')).code, 4400);

  // An edge older than tunnels has no tunnel link.
  const old = await RawUplink.dial(t, mesh.core.url);
  old.send([frameType.hello, 3, 'old', 'xx', 'old-instance', '']);
  await old.next((frame) => frame[0] === frameType.welcome);
  const oldLink = await RawUplink.dial(t, mesh.core.url, 'tunnels');
  oldLink.send([frameType.hello, 3, 'old', 'xx', 'old-instance', '']);
  t.is((await within(oldLink.closed, 'the close')).code, 4400);

  // A tunnel link is taken only beside the uplink of the same edge process.
  const orphan = await RawUplink.dial(t, mesh.core.url, 'tunnels');
  orphan.send([frameType.hello, 4, 'orphan', 'xx', 'orphan-instance', '']);
  t.is((await within(orphan.closed, 'the close')).code, 4409);

  const client = await connectTo(t, mesh.forward('echo'));
  t.is((await exchange(client, Buffer.from('still serving'))).data.toString(), 'still serving');
});

test('only named tunnels are dialled: a stream to a name the file lacks is refused, and an edge dials only what it is `at`', async (t) => {
  const service = await echoService(t);
  // The core's file says the branch edge dials `echo`; the edges' own files say the core does: eu-1 must not dial.
  const mesh = await startTunnelMesh(t, {
    tunnels: { echo: { connect: service.address, at: 'eu-1' } },
    edge: { tunnels: [{ name: 'echo', connect: service.address }], forwards: [] },
  });
  const client = await connectTo(t, mesh.coreForward('echo'));
  const { data, ended } = await exchange(client, Buffer.from('let me in'));
  t.is(data.length, 0);
  t.is(ended, 'end', 'refused: closed without data');
  t.is(service.accepted, 0, 'the branch edge dialled nothing');

  // An edge (or whoever holds an uplink) naming an address instead of a tunnel is refused, and stays connected.
  const { link: stranger } = await rawEdge(t, mesh.core.url, 'stranger');
  const resetOf = (id: number) => stranger.next((frame) => frame[0] === frameType.streamReset && frame[1] === id);
  stranger.send([frameType.streamOpen, 1, '127.0.0.1:22']);
  t.deepEqual(await resetOf(1), [frameType.streamReset, 1, 'refused']);
  stranger.send([frameType.streamOpen, 3, '10.0.0.7:5432']);
  t.deepEqual(await resetOf(3), [frameType.streamReset, 3, 'refused']);
});

test('with several cores, a stream whose entry and `at` edges are on different cores is refused like an unreachable service', async (t) => {
  const service = await echoService(t);
  const tunnels = [{ name: 'erp', connect: service.address, at: 'eu-1' }];
  const anyPort = { host: '127.0.0.1', port: 0 };
  const startOne = async (id: string) => {
    const core = await startCore({ id, logger: silentLogger, tunnels });
    t.teardown(() => core.close());
    return core;
  };
  const [west, east] = [await startOne('west'), await startOne('east')];
  const edgeOn = async (id: string, core: CoreHandle, forwards: EdgeOptions['forwards']) => {
    const edge = await startEdge({
      id,
      region: id.slice(0, 2),
      cores: [{ id: core.id, url: core.url }],
      logger: silentLogger,
      uplink: quietUplink,
      tunnels,
      forwards,
    });
    t.teardown(() => edge.close());
    await edge.ready();
    return edge;
  };
  await edgeOn('eu-1', west, []);
  const entry = await edgeOn('us-1', east, [{ listen: anyPort, tunnel: 'erp' }]);

  const client = await connectTo(t, entry.forwards[0]!);
  const { data, ended } = await exchange(client, Buffer.from('across cores'));
  t.is(data.length, 0);
  t.is(ended, 'end', 'closed without data');
  const ws = new WebSocket(`${entry.url}/v1/tunnel/erp`);
  t.teardown(() => ws.terminate());
  t.deepEqual(await outcomeOf(ws), { code: 4502 });
  t.is(service.accepted, 0);
  const metrics = await (await fetch(`${east.url.replace(/^ws/, 'http')}/metrics`)).text();
  t.regex(metrics, /relaymesh_core_tunnel_refusals_total\{tunnel="erp",reason="no_path"[^}]*\} 2/);
});

test('the tunnel link follows its uplink to the disaster-recovery core: new streams go through it', async (t) => {
  const service = await echoService(t);
  const tunnels = [{ name: 'echo', connect: service.address }];
  const primary = await startCore({ id: 'primary', logger: silentLogger, tunnels });
  t.teardown(() => primary.close());
  const standby = await startCore({ id: 'standby', logger: silentLogger, tunnels });
  t.teardown(() => standby.close());
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: [
      { id: primary.id, url: primary.url },
      { id: standby.id, url: standby.url },
    ],
    logger: silentLogger,
    // The primary's close is seen at once; no heartbeat that a loaded machine could miss.
    uplink: { ...quietUplink, reconnectBaseMs: 10, reconnectMaxMs: 100 },
    tunnels,
    forwards: [{ listen: { host: '127.0.0.1', port: 0 }, tunnel: 'echo' }],
  });
  t.teardown(() => edge.close());
  await edge.ready();
  const echoOnce = async (text: string): Promise<string> => {
    const client = await connectTo(t, edge.forwards[0]!);
    return (await exchange(client, Buffer.from(text))).data.toString();
  };
  t.is(await echoOnce('through the primary'), 'through the primary');
  t.truthy(primary.tunnelLinks.get('eu-1'));

  await primary.close();
  await standby.meshUntil((mesh) => mesh.edges.some((e) => e.id === 'eu-1'), 10_000);
  await edge.ready();
  t.is(edge.uplink.coreId, 'standby');
  t.truthy(standby.tunnelLinks.get('eu-1'), 'the tunnel link followed');
  t.is(await echoOnce('through the standby'), 'through the standby');
});
