// Security settings hold through the command line, as an operator runs the mesh (`relaymesh up`, `core`, `edge`),
// not only through startCore/startEdge: publish keys on every node and every guarded path, topologies that would
// leave the uplink open refused, and a stranger on a core's uplink unable to steer /v1/locate or take an edge's id.

import test from 'ava';
import { closeCodes } from '../shared/errors.js';
import { frameType, protocolVersion } from '../shared/protocol.js';
import { runCli, runTopology, startCli, tempDir, untilStatus } from './helpers/cli.js';
import { RawUplink } from './helpers/raw-uplink.js';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { join } from 'node:path';

const secrets = {
  RELAYMESH_CLI_KEYS: 'key-one,key-two',
  RELAYMESH_CLI_EU: 'eu-secret-0123456789',
  RELAYMESH_CLI_US: 'us-secret-9876543210',
};

function meshTopology([core, eu, us]: number[], extra: { auth?: unknown; secrets?: boolean } = {}) {
  const secret = (name: string) => (extra.secrets === false ? {} : { secretEnv: name });
  return {
    ...(extra.auth ? { auth: extra.auth } : {}),
    cores: [{ id: 'central', listen: `127.0.0.1:${core}`, url: `ws://127.0.0.1:${core}`, region: 'us' }],
    edges: [
      {
        id: 'eu-1',
        listen: `127.0.0.1:${eu}`,
        url: `ws://127.0.0.1:${eu}`,
        region: 'eu',
        cores: ['central'],
        ...secret('RELAYMESH_CLI_EU'),
      },
      {
        id: 'us-1',
        listen: `127.0.0.1:${us}`,
        url: `ws://127.0.0.1:${us}`,
        region: 'us',
        cores: ['central'],
        ...secret('RELAYMESH_CLI_US'),
      },
    ],
  };
}

async function status(url: string, init: RequestInit = {}): Promise<number> {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.status;
}

test('under relaymesh up, every node wants a publish key for POST /v1/publish, /v1/mesh and /metrics', async (t) => {
  const { cli, ports } = await runTopology(t, {
    command: ['up'],
    portCount: 3,
    nodes: 3,
    env: secrets,
    build: (p) => meshTopology(p, { auth: { publishKeysEnv: 'RELAYMESH_CLI_KEYS' } }),
  });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  for (const port of ports) {
    const base = `http://127.0.0.1:${port}`;
    await untilStatus(`${base}/healthz`, 200);
    const publish = (headers: Record<string, string>) =>
      status(`${base}/v1/publish`, { method: 'POST', headers, body: JSON.stringify({ topic: 'cli.keys', data: 1 }) });
    t.is(await publish({}), 401, `${base}: no key`);
    t.is(await publish(bearer('not-a-key')), 401, `${base}: a wrong key`);
    t.is(await publish(bearer('key-two')), 200, `${base}: a configured key`);
    for (const path of ['/v1/mesh', '/metrics']) {
      t.is(await status(`${base}${path}`), 401, `${base}${path} without a key`);
      t.is(await status(`${base}${path}`, { headers: bearer('key-one') }), 200, `${base}${path} with a key`);
    }
  }
  t.notRegex(cli.stderr, /OPEN: edges prove no identity/, 'the uplinks are not open');
  t.regex(cli.stderr, /OPEN: no client authentication/, 'what is still open is said');
});

test('client tokens or publish keys without edge secrets: check and up refuse the file, naming every edge', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'topology.json');
  await writeFile(
    file,
    JSON.stringify(
      meshTopology([7400, 8401, 8402], {
        secrets: false,
        auth: { tokens: { alg: 'HS256', secretEnv: 'RELAYMESH_CLI_KEYS' }, publishKeysEnv: 'RELAYMESH_CLI_KEYS' },
      }),
    ),
  );
  for (const command of [
    ['check', file],
    ['up', '--topology', file],
    ['core', '--id', 'central', '--topology', file],
  ]) {
    const { code, stdout, stderr } = await runCli(t, command, secrets);
    t.is(code, 1, `${command[0]}: ${stderr}`);
    t.is(stdout, '', `${command[0]}: nothing listens`);
    t.regex(
      stderr,
      /\$\.edges\[0\]\.secretEnv: expected a secretEnv, as auth\.tokens and auth\.publishKeysEnv are set/,
    );
    t.regex(stderr, /\$\.edges\[1\]\.secretEnv/);
  }
});

test("an open mesh says so; a stranger on the core's uplink cannot take a connected edge's id, invent an edge, or steer locate", async (t) => {
  const core = await runTopology(t, {
    command: ['core', '--id', 'central'],
    portCount: 3,
    nodes: 1,
    build: (p) => meshTopology(p, { secrets: false }),
  });
  const [corePort, euPort, usPort] = core.ports as [number, number, number];
  const edge = startCli(t, ['edge', '--id', 'eu-1', '--topology', core.file, '--log-level', 'warn']);
  await edge.waitFor(() => / listening on /.test(edge.stdout), 'the edge listening');
  const coreHttp = `http://127.0.0.1:${corePort}`;
  await untilStatus(`http://127.0.0.1:${euPort}/healthz`, 200);
  t.regex(core.cli.stderr, /OPEN: edges prove no identity on their uplinks/);
  const coreUrl = `ws://127.0.0.1:${corePort}`;

  const hello = (uplink: RawUplink, id: string): void =>
    uplink.send([frameType.hello, protocolVersion, id, 'eu', 'stranger-instance', '']);
  const impostor = await RawUplink.dial(t, coreUrl);
  hello(impostor, 'eu-1');
  t.is((await impostor.closed).code, closeCodes.edgeIdInUse, 'a connected edge keeps its id');
  const inventor = await RawUplink.dial(t, coreUrl);
  hello(inventor, 'evil-1');
  t.is((await inventor.closed).code, closeCodes.unauthorized, 'an edge the topology does not name is refused');
  await untilStatus(`http://127.0.0.1:${euPort}/healthz`, 200);

  // An id of the topology that is not connected can be claimed in an open mesh, but its URL is the file's.
  const squatter = await RawUplink.dial(t, coreUrl);
  hello(squatter, 'us-1');
  await squatter.next((frame) => frame[0] === frameType.welcome);
  squatter.send([frameType.edgeStatus, ['wss://evil.example.net', false, 0, 100_000, 0, 0, 0, 0]]);
  const located = async (): Promise<string | null> =>
    (await fetch(`${coreHttp}/v1/locate?region=us`, { redirect: 'manual' })).headers.get('location');
  let location = await located();
  for (let i = 0; i < 2000 && location !== `ws://127.0.0.1:${usPort}/v1/ws`; i++) location = await located();
  t.is(location, `ws://127.0.0.1:${usPort}/v1/ws`, 'locate names the topology URL of us-1, never the reported one');

  // A URL that would split a header is refused as a malformed frame; locate goes on answering.
  squatter.send([frameType.edgeStatus, ['ws://x\r\nset-cookie: a=b', false, 0, 100_000, 0, 0, 0, 0]]);
  t.is((await squatter.closed).code, closeCodes.protocolViolation);
  t.not(await status(`${coreHttp}/v1/locate?region=us`, { redirect: 'manual' }), 500);
  t.is(await status(`http://127.0.0.1:${euPort}/v1/locate?region=eu`, { redirect: 'manual' }), 307);
});

test('relaymesh edge needs only its own secrets and files: an edge host holds no other edge secret and no core key', async (t) => {
  const auth = { tokens: { alg: 'HS256', secretEnv: 'RELAYMESH_CLI_KEYS' }, publishKeysEnv: 'RELAYMESH_CLI_KEYS' };
  const build = (ports: number[]) => {
    const topology = meshTopology(ports, { auth });
    // The core's TLS files exist only on the core's host.
    return { ...topology, cores: [{ ...topology.cores[0]!, tls: { cert: 'core.pem', key: 'core-key.pem' } }] };
  };
  const edgeHost = { RELAYMESH_CLI_KEYS: secrets.RELAYMESH_CLI_KEYS, RELAYMESH_CLI_EU: secrets.RELAYMESH_CLI_EU };
  const edge = await runTopology(t, {
    command: ['edge', '--id', 'eu-1'],
    portCount: 3,
    nodes: 1,
    build,
    env: edgeHost,
  });
  t.regex(edge.cli.stdout, /edge eu-1 \(eu\) listening on/);

  // The whole file, as `check` and `up` see it, still wants every secret and file.
  const { code, stderr } = await runCli(t, ['check', edge.file], edgeHost);
  t.is(code, 1);
  t.regex(stderr, /\$\.edges\[1\]\.secretEnv: expected the environment variable RELAYMESH_CLI_US to be set/);
  t.regex(stderr, /\$\.cores\[0\]\.tls\.key: expected an existing file/);
  // And a node still wants its own: the edge without its secret is refused.
  const bare = await runCli(t, ['edge', '--id', 'eu-1', '--topology', edge.file], { RELAYMESH_CLI_KEYS: 'k' });
  t.is(bare.code, 1);
  t.regex(bare.stderr, /\$\.edges\[0\]\.secretEnv: expected the environment variable RELAYMESH_CLI_EU to be set/);
  t.notRegex(bare.stderr, /edges\[1\]|cores\[0\]/);
});

test('under relaymesh up, the connect hook is asked with the key from its variable, and its no closes the client', async (t) => {
  const seen: Array<{ authorization: string | undefined; body: Record<string, unknown> }> = [];
  const backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      seen.push({ authorization: req.headers.authorization, body });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ allow: false, message: 'not today' }));
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => backend.close(() => resolve())));
  const hookUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/rm/connect`;
  const { cli, ports } = await runTopology(t, {
    command: ['up'],
    portCount: 3,
    nodes: 3,
    env: { ...secrets, RELAYMESH_CLI_HOOK: 'hook-key-42' },
    build: (p) => ({ ...meshTopology(p), hooks: { connect: hookUrl, keyEnv: 'RELAYMESH_CLI_HOOK', timeoutMs: 5000 } }),
  });
  await untilStatus(`http://127.0.0.1:${ports[1]}/healthz`, 200);
  const ws = new WebSocket(`ws://127.0.0.1:${ports[1]}/v1/ws`);
  t.teardown(() => ws.terminate());
  ws.on('open', () => ws.send(JSON.stringify({ op: 'connect' })));
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  t.is(code, closeCodes.unauthorized);
  t.is(reason.toString(), 'not today');
  t.is(seen.length, 1);
  t.is(seen[0]!.authorization, 'Bearer hook-key-42');
  t.like(seen[0]!.body, { edge: 'eu-1', region: 'eu' });
  t.notRegex(cli.stderr, /OPEN: no client authentication/, 'the connect hook authenticates clients');
  t.notRegex(cli.stderr + cli.stdout, /hook-key-42/, 'the key is never logged');
});
