// Tunnels through the command a user runs (`relaymesh up` on a topology file): forwards listen where the file says and
// carry their streams, status shows the tunnels, the open settings are warned about, and tokens hold on WebSocket.

import test from 'ava';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { runCli, runTopology, untilStatus } from './helpers/cli.js';
import { digestOf, digestService, echoService, patternBytes, readAll } from './helpers/tcp-services.js';
import { connectTo } from './helpers/tunnel-mesh.js';
import { within } from './helpers/within.js';

const node = (id: string, port: number) => ({
  id,
  listen: `127.0.0.1:${port}`,
  url: `ws://127.0.0.1:${port}`,
  region: id.slice(0, 2),
});

test('relaymesh up: a forward in the file carries its tunnel, by way of the at edge; status lists the tunnel', async (t) => {
  const service = await digestService(t);
  const running = await runTopology(t, {
    command: ['up'],
    portCount: 4,
    nodes: 3,
    build: ([core, eu, us, forward]) => ({
      tunnels: { erp: { connect: `127.0.0.1:${service.address.port}`, at: 'eu-1' } },
      cores: [node('central', core!)],
      edges: [
        { ...node('eu-1', eu!), cores: ['central'] },
        { ...node('us-1', us!), cores: ['central'], forwards: [{ listen: `127.0.0.1:${forward}`, tunnel: 'erp' }] },
      ],
    }),
  });
  const [corePort, , , forwardPort] = running.ports as [number, number, number, number];
  await running.cli.waitFor(
    () => running.cli.stdout.includes(`tunnel erp: forward at 127.0.0.1:${forwardPort}`),
    'the forward line',
  );
  await running.cli.waitFor(
    () =>
      /OPEN: without client authentication \(auth\.tokens\) anyone who reaches an edge may open every tunnel/.test(
        running.cli.stderr,
      ),
    'the warning that tunnels are open',
  );

  // The uplinks come up just after the nodes listen: until both edges are healthy a stream would be refused.
  const [, euPort, usPort] = running.ports as [number, number, number];
  for (const port of [euPort, usPort]) await untilStatus(`http://127.0.0.1:${port}/healthz`, 200);
  const request = patternBytes(500_000, 1);
  const client = await connectTo(t, { host: '127.0.0.1', port: forwardPort });
  const reply = readAll(client);
  client.end(request);
  const answer = (await within(reply, 'the answer')).data.toString();
  t.is(answer, digestOf(request));

  const status = await runCli(t, ['status', '--url', `http://127.0.0.1:${corePort}`, '--json']);
  const snapshot = JSON.parse(status.stdout) as { tunnels: Array<{ name: string; at: string; toService: number }> };
  t.like(snapshot.tunnels[0], { name: 'erp', at: 'eu-1', toService: request.length });
});

test('relaymesh up with tokens: a WebSocket tunnel needs a token whose claim names it', async (t) => {
  const service = await echoService(t);
  const secret = 'cli-tunnel-secret-of-at-least-32-bytes';
  const running = await runTopology(t, {
    command: ['up'],
    portCount: 2,
    nodes: 2,
    env: { TUNNEL_CLI_TOKENS: secret, TUNNEL_CLI_EDGE: 'edge-secret-of-at-least-32-bytes-long' },
    build: ([core, edge]) => ({
      tunnels: { echo: { connect: `127.0.0.1:${service.address.port}` } },
      auth: { tokens: { alg: 'HS256', secretEnv: 'TUNNEL_CLI_TOKENS' } },
      cores: [node('central', core!)],
      edges: [{ ...node('eu-1', edge!), cores: ['central'], secretEnv: 'TUNNEL_CLI_EDGE' }],
    }),
  });
  const edgeUrl = `ws://127.0.0.1:${running.ports[1]}/v1/tunnel/echo`;
  const statusOf = (url: string): Promise<number> => {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    t.teardown(() => ws.terminate());
    return within(
      new Promise((resolve) => {
        ws.once('open', () => resolve(101));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!));
      }),
      'the answer',
    );
  };
  const mint = (claims: Record<string, unknown>): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
  t.is(await statusOf(edgeUrl), 401);
  t.is(await statusOf(`${edgeUrl}?token=${await mint({ tunnels: ['other'] })}`), 403);
  // The command an operator runs mints the claim too.
  const minted = await runCli(t, ['token', '--topology', running.file, '--tunnel', 'echo'], {
    TUNNEL_CLI_TOKENS: secret,
    TUNNEL_CLI_EDGE: 'edge-secret-of-at-least-32-bytes-long',
  });
  t.is(await statusOf(`${edgeUrl}?token=${minted.stdout.trim()}`), 101);
});
