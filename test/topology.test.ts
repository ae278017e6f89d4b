// Unit tests of the topology loader: defaults, the docs/protocol.md §6 sample, and bad files refused with every problem listed.

import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  TopologyError,
  defaultHistory,
  defaultLimits,
  defaultUplink,
  loadTopology,
  validateTopology,
  type TopologyProblem,
} from '../shared/topology.js';

const sample = {
  cores: [{ id: 'central', listen: '127.0.0.1:7400', url: 'ws://127.0.0.1:7400', region: 'us' }],
  edges: [
    { id: 'eu-1', listen: '127.0.0.1:8401', url: 'ws://127.0.0.1:8401', region: 'eu', cores: ['central'] },
    { id: 'us-1', listen: '127.0.0.1:8402', url: 'ws://127.0.0.1:8402', region: 'us', cores: ['central'] },
  ],
};

function problemsOf(value: unknown): readonly TopologyProblem[] {
  try {
    validateTopology(value, '/etc/relaymesh/topology.json');
  } catch (error) {
    if (error instanceof TopologyError) return error.problems;
    throw error;
  }
  throw new Error('expected a TopologyError');
}

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-topology-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a minimal topology gets every default', (t) => {
  const topology = validateTopology(
    {
      cores: [{ id: 'c', listen: 'localhost:0', url: 'wss://core.example.com', region: 'x' }],
      edges: [{ id: 'e', listen: '[::1]:0', url: 'ws://[::1]:9000', region: 'x', cores: ['c'] }],
    },
    '',
  );
  t.is(topology.file, '');
  t.deepEqual(topology.cores[0]?.listen, { host: 'localhost', port: 0 });
  t.deepEqual(topology.edges[0]?.listen, { host: '::1', port: 0 });
  t.deepEqual(topology.history, { maxMessages: 1000, maxAgeMs: 300_000, maxBytes: 268_435_456 });
  t.deepEqual(topology.limits, {
    maxMessageBytes: 131_072,
    maxSubscriptionsPerSession: 1000,
    outboxMaxBytes: 8_388_608,
    connectTimeoutMs: 10_000,
    headerTimeoutMs: 10_000,
    heartbeatMs: 25_000,
    publishHoldMs: 10_000,
    maxPreConnectMessageBytes: 4096,
    messagesPerSecond: 100,
    messageBurst: 200,
    maxConnectionsPerIp: 1000,
    maxConnections: 100_000,
    maxTopicsPerEdge: 100_000,
    maxHeldPublishes: 10_000,
    drainGraceMs: 5_000,
    streamGraceMs: 30_000,
    maxReplayBytes: 4_194_304,
    recentCacheMaxBytes: 67_108_864,
    maxTopicsPerAddress: 10_000,
    maxPublishBytesPerAddress: 4_194_304,
    newTopicsPerSecondPerAddress: 500,
    outboxTotalMaxBytes: 268_435_456,
    maxTunnelStreams: 1024,
    maxTunnelStreamsPerAddress: 64,
    tunnelBufferMaxBytes: 67_108_864,
    tunnelConnectTimeoutMs: 10_000,
    presenceGraceMs: 30_000,
    presenceEventsMaxMembers: 1000,
    presenceEventsPerSecond: 100,
    maxPendingHookCalls: 1000,
    maxPendingHookCallsPerAddress: 64,
  });
  t.deepEqual(topology.tunnels, []);
  t.deepEqual(topology.uplink, {
    heartbeatMs: 2000,
    reconnectBaseMs: 100,
    reconnectMaxMs: 5000,
    failbackMs: 10_000,
    digestMs: 30_000,
    statusMs: 2000,
    maxQueueBytes: 33_554_432,
  });
  t.deepEqual(topology.engine, { type: 'memory' });
  t.deepEqual(topology.history, defaultHistory);
  t.deepEqual(topology.limits, defaultLimits);
  t.deepEqual(topology.uplink, defaultUplink);
});

test('given settings override the defaults one field at a time', (t) => {
  const topology = validateTopology(
    { ...sample, history: { maxMessages: 5 }, limits: { heartbeatMs: 1000 }, engine: { type: 'memory' } },
    '',
  );
  t.deepEqual(topology.history, { ...defaultHistory, maxMessages: 5 });
  t.deepEqual(topology.limits, { ...defaultLimits, heartbeatMs: 1000 });
});

test('the sample of docs/protocol.md §6 loads from disk, as the repository topology.json', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'topology.json');
  await writeFile(file, JSON.stringify(sample, null, 2));
  const topology = await loadTopology(file);
  t.is(topology.file, file);
  t.deepEqual(topology.cores, [
    { id: 'central', listen: { host: '127.0.0.1', port: 7400 }, url: 'ws://127.0.0.1:7400', region: 'us' },
  ]);
  t.deepEqual(
    topology.edges.map((edge) => [edge.id, edge.listen.port, edge.region, edge.cores]),
    [
      ['eu-1', 8401, 'eu', ['central']],
      ['us-1', 8402, 'us', ['central']],
    ],
  );
  const shipped = await loadTopology(fileURLToPath(new URL('../topology.json', import.meta.url)));
  t.deepEqual(shipped.cores, topology.cores);
  // The shipped file adds a tunnel for the README's tour: us-1 forwards to eu-1's own HTTP port, a stand-in intranet.
  t.deepEqual(
    shipped.edges.map(({ forwards: _forwards, ...edge }) => edge),
    topology.edges,
  );
  t.deepEqual(shipped.tunnels, [{ name: 'eu-intranet', connect: { host: '127.0.0.1', port: 8401 }, at: 'eu-1' }]);
  t.deepEqual(shipped.edges[1]?.forwards, [{ listen: { host: '127.0.0.1', port: 8480 }, tunnel: 'eu-intranet' }]);
});

test('a broken file reports every problem at once, with its JSON path', (t) => {
  const problems = problemsOf({
    cores: [{ id: 'central', listen: '127.0.0.1:7400', url: 'http://127.0.0.1:7400', region: 'us' }],
    edges: [
      { id: 'eu-1', listen: '127.0.0.1:8401', url: 'ws://127.0.0.1:8401', cores: ['centrl'] },
      {
        id: 'central',
        listen: '127.0.0.1:99999',
        url: 'ws://127.0.0.1:8402',
        region: 'us',
        cores: ['central'],
        orgins: [],
      },
    ],
    limits: { maxMessageBytes: 1.5 },
  });
  const byPath = new Map(problems.map((problem) => [problem.path, problem]));
  t.deepEqual([...byPath.keys()].sort(), [
    '$.cores[0].url',
    '$.edges[0].cores[0]',
    '$.edges[0].region',
    '$.edges[1].id',
    '$.edges[1].listen',
    '$.edges[1].orgins',
    '$.limits.maxMessageBytes',
  ]);
  t.like(byPath.get('$.edges[0].cores[0]'), {
    expected: 'the id of a core or hub in this file (central)',
    found: '"centrl"',
  });
  t.like(byPath.get('$.edges[1].id'), {
    expected: 'an id not used by another node (already used at $.cores[0].id)',
    found: '"central"',
  });
  t.like(byPath.get('$.edges[1].listen'), { found: '"127.0.0.1:99999"' });
  t.like(byPath.get('$.edges[0].region'), { expected: 'a non-empty string', found: 'nothing' });
  t.like(byPath.get('$.cores[0].url'), { expected: 'a ws:// or wss:// URL', found: '"http://127.0.0.1:7400"' });
  t.like(byPath.get('$.edges[1].orgins'), {
    expected:
      'one of the known fields (id, listen, url, region, tls, forwards, cores, ca, secretEnv, origins, proxy, proxyAuthEnv, hub)',
    found: '"orgins"',
  });
  t.like(byPath.get('$.limits.maxMessageBytes'), { expected: 'a positive integer', found: '1.5' });
  for (const problem of problems) t.is(problem.file, '/etc/relaymesh/topology.json');
});

test('the error message has one line per problem', (t) => {
  const error = t.throws(() => validateTopology({ cores: [], edges: [], extra: 1 }, '/x/topology.json'), {
    instanceOf: TopologyError,
  });
  t.deepEqual(error?.message.split('\n'), [
    '/x/topology.json: $.extra: expected one of the known fields (cores, edges, history, limits, uplink, engine, auth, regions, locate, tunnels, hooks), found "extra"',
    '/x/topology.json: $.cores: expected a non-empty array of cores, found []',
    '/x/topology.json: $.edges: expected a non-empty array of edges, found []',
  ]);
});

test('addresses, shared ports, settings and engine are checked', (t) => {
  const node = (id: string, listen: string) => ({ id, listen, url: 'ws://h', region: 'r' });
  const problems = problemsOf({
    cores: [node('a', '0.0.0.0:0'), node('b', '300.1.1.1:1'), node('c', '[::1:1')],
    edges: [
      { ...node('d', '0.0.0.0:0'), cores: ['a', 'a'] },
      { ...node('e', 'host.example:8000'), cores: [] },
      { ...node('f', 'HOST.example:8000'), cores: ['b'] },
    ],
    uplink: { reconnectBaseMs: 9000, heartbeatMs: 2 ** 40 },
    history: 'lots',
    engine: { type: 'mongo' },
  });
  t.deepEqual(
    problems.map((problem) => `${problem.path} ${problem.found}`),
    [
      '$.cores[1].listen "300.1.1.1:1"',
      '$.cores[2].listen "[::1:1"',
      '$.edges[0].cores[1] "a"',
      '$.edges[1].cores []',
      '$.edges[2].listen "HOST.example:8000"',
      '$.history "lots"',
      '$.uplink.heartbeatMs 1099511627776',
      '$.uplink.reconnectBaseMs 9000',
      '$.engine.type "mongo"',
    ],
  );
  t.is(problems.find((problem) => problem.path === '$.engine.type')?.expected, '"memory" or "redis"');
  // Nodes on hosts of their own all listen on every interface: the same wildcard address is no clash.
  const spread = {
    cores: [node('a', '0.0.0.0:443')],
    edges: ['0.0.0.0:443', '[::]:443', '[::]:443'].map((listen, i) => ({ ...node(`e${i}`, listen), cores: ['a'] })),
  };
  t.notThrows(() => validateTopology(spread, ''));
});

test('tunnels and forwards: the §8 sample loads; names, addresses, `at`, forwards and their ports are checked', (t) => {
  const node = (id: string, listen: string) => ({ id, listen, url: 'ws://h', region: 'r' });
  const topology = validateTopology(
    {
      tunnels: { pg: { connect: '10.0.0.7:5432' }, erp: { connect: '127.0.0.1:8080', at: 'eu-1' } },
      cores: [{ ...node('central', '127.0.0.1:7400'), forwards: [{ listen: '127.0.0.1:18080', tunnel: 'erp' }] }],
      edges: [
        { ...node('eu-1', '127.0.0.1:8401'), cores: ['central'] },
        {
          ...node('us-1', '127.0.0.1:8402'),
          cores: ['central'],
          forwards: [{ listen: '127.0.0.1:15432', tunnel: 'pg' }],
        },
      ],
    },
    '',
  );
  t.deepEqual(topology.tunnels, [
    { name: 'pg', connect: { host: '10.0.0.7', port: 5432 } },
    { name: 'erp', connect: { host: '127.0.0.1', port: 8080 }, at: 'eu-1' },
  ]);
  t.deepEqual(topology.cores[0]?.forwards, [{ listen: { host: '127.0.0.1', port: 18080 }, tunnel: 'erp' }]);
  t.deepEqual(topology.edges[1]?.forwards, [{ listen: { host: '127.0.0.1', port: 15432 }, tunnel: 'pg' }]);

  const problems = problemsOf({
    tunnels: {
      'bad name!': { connect: '10.0.0.7:5432' },
      noport: { connect: '10.0.0.7' },
      zero: { connect: '10.0.0.7:0' },
      nowhere: { connect: 'db:5432', at: 'mars-1' },
      extra: { connect: 'db:5432', via: 'x' },
      ok: { connect: 'db:5432' },
      branch: { connect: 'erp:80', at: 'eu-1' },
    },
    cores: [
      {
        ...node('central', '127.0.0.1:7400'),
        forwards: [
          { listen: '127.0.0.1:8401', tunnel: 'branch' },
          { listen: '127.0.0.1:8500', tunnel: 'ok' },
        ],
      },
    ],
    edges: [
      {
        ...node('eu-1', '127.0.0.1:8401'),
        cores: ['central'],
        forwards: [
          { listen: '127.0.0.1:9000', tunnel: 'missing' },
          { listen: '127.0.0.1:9000', tunnel: 'ok' },
          { listen: '127.0.0.1:0', tunnel: 'ok' },
          'pg',
        ],
      },
      { ...node('us-1', '127.0.0.1:8402'), cores: ['central'], forwards: { listen: '127.0.0.1:9001' } },
    ],
  });
  t.deepEqual(
    problems.map((problem) => `${problem.path} ${problem.found}`),
    [
      '$.tunnels["bad name!"] "bad name!"',
      '$.tunnels.noport.connect "10.0.0.7"',
      '$.tunnels.zero.connect "10.0.0.7:0"',
      '$.tunnels.nowhere.at "mars-1"',
      '$.tunnels.extra.via "via"',
      // A core dials tunnels without `at` itself: its forward to one would be a plain TCP proxy.
      '$.cores[0].forwards[1].tunnel "ok"',
      '$.edges[0].forwards[0].tunnel "missing"',
      '$.edges[0].forwards[2].listen "127.0.0.1:0"',
      '$.edges[0].forwards[3] "pg"',
      '$.edges[1].forwards {"listen":"127.0.0.1:9001"}',
      // The core's forward took the port first.
      '$.edges[0].listen "127.0.0.1:8401"',
      '$.edges[0].forwards[1].listen "127.0.0.1:9000"',
    ],
  );
  t.regex(problems.find((problem) => problem.path === '$.edges[0].listen')!.expected, /\$\.cores\[0\]\.forwards\[0\]/);
  t.regex(problems.find((problem) => problem.path === '$.tunnels.nowhere.at')!.expected, /eu-1, us-1/);
  t.regex(problems.find((problem) => problem.path === '$.edges[0].forwards[0].tunnel')!.expected, /noport|ok/);
});

test('wildcard listeners: nodes on hosts of their own may share 0.0.0.0:port, one node and its forwards may not', (t) => {
  const node = (id: string, listen: string) => ({ id, listen, url: 'ws://h', region: 'r' });
  const problems = problemsOf({
    tunnels: { pg: { connect: 'db:5432' } },
    cores: [node('central', '0.0.0.0:443')],
    edges: [
      {
        ...node('eu-1', '0.0.0.0:443'),
        cores: ['central'],
        forwards: [
          { listen: '0.0.0.0:15432', tunnel: 'pg' },
          { listen: '0.0.0.0:15432', tunnel: 'pg' },
          { listen: '[::]:443', tunnel: 'pg' },
        ],
      },
      { ...node('us-1', '0.0.0.0:443'), cores: ['central'], forwards: [{ listen: '0.0.0.0:15432', tunnel: 'pg' }] },
    ],
  });
  t.deepEqual(
    problems.map((problem) => problem.path),
    ['$.edges[0].forwards[1].listen', '$.edges[0].forwards[2].listen'],
  );
});

test('the three-region example of docs/operations.md is a valid topology', async (t) => {
  const env = Object.fromEntries(
    [
      'RELAYMESH_TOKEN_SECRET',
      'RELAYMESH_PUBLISH_KEYS',
      'RELAYMESH_REDIS_PASSWORD',
      'RELAYMESH_EDGE_EU_1_SECRET',
      'RELAYMESH_EDGE_EU_2_SECRET',
      'RELAYMESH_EDGE_US_1_SECRET',
      'RELAYMESH_EDGE_AP_1_SECRET',
    ].map((name) => [name, 'x']),
  );
  const file = new URL('../docs/three-regions.topology.json', import.meta.url);
  const topology = validateTopology(JSON.parse(await readFile(file, 'utf8')), fileURLToPath(file), env);
  t.deepEqual(
    topology.edges.map((edge) => edge.region),
    ['eu', 'eu', 'us', 'ap'],
  );
  t.is(topology.engine.type, 'redis');
});

test('the redis engine: url, key prefix and password variable are checked, every problem listed', (t) => {
  const good = validateTopology({ ...sample, engine: { type: 'redis', url: 'redis://127.0.0.1:6379' } }, '');
  t.deepEqual(good.engine, { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'relaymesh:' });
  const full = validateTopology(
    {
      ...sample,
      engine: {
        type: 'redis',
        url: 'rediss://redis.internal:6380/2',
        keyPrefix: 'mesh-a:',
        passwordEnv: 'REDIS_PW',
        username: 'relay',
      },
    },
    '',
    { REDIS_PW: 'secret' },
  );
  t.deepEqual(full.engine, {
    type: 'redis',
    url: 'rediss://redis.internal:6380/2',
    keyPrefix: 'mesh-a:',
    passwordEnv: 'REDIS_PW',
    username: 'relay',
  });
  t.false(JSON.stringify(full).includes('secret'), 'the password itself is never part of the topology');
  const problems = (engine: unknown, env: Record<string, string> = {}): string[] => {
    try {
      validateTopology({ ...sample, engine }, '', env);
      return [];
    } catch (error) {
      return (error as TopologyError).problems.map((problem) => `${problem.path} ${problem.found}`);
    }
  };
  t.deepEqual(problems({ type: 'redis' }), ['$.engine.url nothing']);
  t.deepEqual(problems({ type: 'redis', url: 'http://127.0.0.1:6379' }), ['$.engine.url "http://127.0.0.1:6379"']);
  t.deepEqual(problems({ type: 'redis', url: 'redis://' }), ['$.engine.url "redis://"']);
  t.deepEqual(problems({ type: 'redis', url: 'not a url' }), ['$.engine.url "not a url"']);
  t.deepEqual(problems({ type: 'redis', url: 'redis://:hunter2@h:6379' }), ['$.engine.url "redis://:PASSWORD@h:6379"']);
  t.deepEqual(problems({ type: 'redis', url: 'redis://h:6379/db', keyPrefix: '', passwordEnv: 'UNSET_PW', extra: 1 }), [
    '$.engine.extra "extra"',
    '$.engine.url "redis://h:6379/db"',
    '$.engine.keyPrefix ""',
    '$.engine.passwordEnv "UNSET_PW not set"',
  ]);
  t.deepEqual(problems({ type: 'memory', url: 'redis://h' }), ['$.engine.url "redis://h"']);
});

test('long values are cut short in `found`', (t) => {
  const [problem] = problemsOf({ ...sample, engine: { type: 'x'.repeat(500) } });
  t.true((problem?.found.length ?? 0) <= 60);
  t.true(problem?.found.startsWith('"xxx'));
});

test('not an object at all is one problem at $', (t) => {
  t.deepEqual(problemsOf([1, 2]), [
    { file: '/etc/relaymesh/topology.json', path: '$', expected: 'a topology object {cores, edges}', found: '[1,2]' },
  ]);
});

test('an unreadable file is a TopologyError', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'missing.json');
  const error = await t.throwsAsync(loadTopology(file), { instanceOf: TopologyError });
  t.is(error?.problems.length, 1);
  t.like(error?.problems[0], { file, path: '$', expected: 'a readable file' });
  t.regex(error?.problems[0]?.found ?? '', /ENOENT/);
});

test('invalid JSON is a TopologyError at $ with the parser position', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'topology.json');
  await writeFile(file, '{\n  "cores": [\n    { "id": "central", }\n  ]\n}\n');
  const error = await t.throwsAsync(loadTopology(file), { instanceOf: TopologyError });
  t.is(error?.problems.length, 1);
  t.like(error?.problems[0], { file, path: '$', expected: 'valid JSON' });
  t.regex(error?.problems[0]?.found ?? '', /line 3 column \d+/);
  t.true(error?.message.startsWith(`${file}: $: expected valid JSON, found `));
});

test('the topology is deeply frozen', (t) => {
  const topology = validateTopology(sample, '');
  t.true(Object.isFrozen(topology));
  for (const part of [
    topology.cores,
    topology.edges,
    topology.history,
    topology.limits,
    topology.uplink,
    topology.engine,
  ])
    t.true(Object.isFrozen(part));
  for (const node of [...topology.cores, ...topology.edges]) {
    t.true(Object.isFrozen(node));
    t.true(Object.isFrozen(node.listen));
  }
  t.true(Object.isFrozen(topology.edges[0]?.cores));
  t.throws(() => {
    (topology.limits as { heartbeatMs: number }).heartbeatMs = 1;
  });
  t.true(Object.isFrozen(defaultLimits));
});
