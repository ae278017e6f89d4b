// An edge behind a corporate forward proxy (docs/protocol.md §6 `edges[].proxy`), with Debian's tinyproxy: the uplink
// is a CONNECT tunnel through it and clients are served end to end; a proxy that wants credentials gets them from the
// variable `proxyAuthEnv` names, and one that refuses (407) or is gone shows in /healthz while the edge retries; with
// no `proxy` in the file, HTTP(S)_PROXY and NO_PROXY are honoured as command-line tools do.

import test, { type ExecutionContext } from 'ava';
import { edgeOptionsOf } from '../cli/node-options.js';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import { validateTopology } from '../shared/topology.js';
import { runTopology, untilStatus } from './helpers/cli.js';
import { publish } from './helpers/http-publish.js';
import { fastUplink, silentLogger } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { Tinyproxy } from './helpers/tinyproxy.js';

/** The edge `eu-1` of a topology whose core is `core`, started from it as the command line would. */
async function edgeFromTopology(
  t: ExecutionContext,
  core: CoreHandle,
  edge: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<EdgeHandle> {
  const topology = validateTopology(
    {
      cores: [{ id: 'central', listen: '127.0.0.1:0', url: core.url, region: 'us' }],
      edges: [
        { id: 'eu-1', listen: '127.0.0.1:0', url: 'ws://127.0.0.1:1', region: 'eu', cores: ['central'], ...edge },
      ],
      uplink: fastUplink,
    },
    '',
    env,
  );
  const handle = await startEdge({
    ...edgeOptionsOf(topology, 'eu-1', silentLogger, env),
    listen: { host: '127.0.0.1', port: 0 },
    url: undefined,
  });
  t.teardown(() => handle.close());
  return handle;
}

async function health(edge: EdgeHandle): Promise<{ status: number; body: { uplink?: { problem?: string } } }> {
  const response = await fetch(`${edge.url.replace(/^ws/, 'http')}/healthz`);
  return { status: response.status, body: (await response.json()) as { uplink?: { problem?: string } } };
}

test('an edge behind tinyproxy opens its uplink as a CONNECT tunnel and serves clients end to end', async (t) => {
  const proxy = await Tinyproxy.start(t);
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const edge = await edgeFromTopology(t, core, { proxy: proxy.url });
  await edge.ready();
  t.regex(
    await proxy.log(),
    new RegExp(`CONNECT 127\\.0\\.0\\.1:${core.address.port} `),
    'the uplink went through the proxy',
  );
  const client = await RawClient.connected(t, edge.url);
  await client.subscribe('branch.news', 1);
  await publish(core, 'branch.news', { through: 'the proxy' });
  t.like((await client.messages(1))[0], { topic: 'branch.news', data: { through: 'the proxy' } });
});

test('a proxy that wants credentials: 407 shows in /healthz and the edge retries; with proxyAuthEnv it gets through', async (t) => {
  const proxy = await Tinyproxy.start(t, { credentials: 'branch:s3cret-pass' });
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const refused = await edgeFromTopology(t, core, { proxy: proxy.url });
  let answer = await health(refused);
  for (let i = 0; i < 200 && !answer.body.uplink?.problem; i++) answer = await health(refused);
  t.is(answer.status, 503);
  t.regex(answer.body.uplink?.problem ?? '', /wants credentials \(407\)/);
  t.false(refused.uplink.connected);

  const admitted = await edgeFromTopology(
    t,
    core,
    { proxy: proxy.url, proxyAuthEnv: 'RELAYMESH_TEST_PROXY_AUTH' },
    { RELAYMESH_TEST_PROXY_AUTH: 'branch:s3cret-pass' },
  );
  await admitted.ready();
  t.is((await health(admitted)).status, 200);

  // The proxy goes away: the edge tells why, and keeps trying.
  proxy.stop();
  await core.close();
  answer = await health(admitted);
  for (let i = 0; i < 400 && !/ECONNREFUSED/.test(answer.body.uplink?.problem ?? ''); i++)
    answer = await health(admitted);
  t.regex(answer.body.uplink?.problem ?? '', /through the proxy http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
});

test('without a proxy in the file, relaymesh edge honours HTTP_PROXY, and NO_PROXY names targets reached directly', async (t) => {
  const proxy = await Tinyproxy.start(t);
  const build = ([core, edge]: number[]) => ({
    cores: [{ id: 'central', listen: `127.0.0.1:${core}`, url: `ws://127.0.0.1:${core}`, region: 'us' }],
    edges: [
      { id: 'eu-1', listen: `127.0.0.1:${edge}`, url: `ws://127.0.0.1:${edge}`, region: 'eu', cores: ['central'] },
    ],
  });
  const proxied = await runTopology(t, {
    command: ['up'],
    portCount: 2,
    nodes: 2,
    build,
    env: { HTTP_PROXY: proxy.url, NO_PROXY: '' },
  });
  await untilStatus(`http://127.0.0.1:${proxied.ports[1]!}/healthz`, 200);
  t.regex(await proxy.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${proxied.ports[0]!} `));

  const direct = await runTopology(t, {
    command: ['up'],
    portCount: 2,
    nodes: 2,
    build,
    env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' },
  });
  await untilStatus(`http://127.0.0.1:${direct.ports[1]!}/healthz`, 200);
  t.notRegex(
    await proxy.log(),
    new RegExp(`CONNECT 127\\.0\\.0\\.1:${direct.ports[0]!} `),
    'NO_PROXY: straight to the core',
  );
});

test('the topology refuses a proxy with credentials in its URL, or credentials without a proxy', (t) => {
  const problems = (edge: Record<string, unknown>): string[] => {
    try {
      validateTopology(
        {
          cores: [{ id: 'c', listen: '127.0.0.1:0', url: 'ws://h', region: 'r' }],
          edges: [{ id: 'e', listen: '127.0.0.1:0', url: 'ws://h', region: 'r', cores: ['c'], ...edge }],
        },
        '',
        { AUTH: 'u:p' },
      );
      return [];
    } catch (error) {
      return (error as { problems: Array<{ path: string }> }).problems.map((problem) => problem.path);
    }
  };
  t.deepEqual(problems({ proxy: 'http://user:pass@proxy:3128' }), ['$.edges[0].proxy']);
  t.deepEqual(problems({ proxy: 'socks5://proxy:1080' }), ['$.edges[0].proxy']);
  t.deepEqual(problems({ proxyAuthEnv: 'AUTH' }), ['$.edges[0].proxyAuthEnv']);
  t.deepEqual(problems({ proxy: 'http://proxy:3128', proxyAuthEnv: 'UNSET' }), ['$.edges[0].proxyAuthEnv']);
  t.deepEqual(problems({ proxy: 'http://proxy.example:3128', proxyAuthEnv: 'AUTH' }), []);
});
