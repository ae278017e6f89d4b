// Tiers in the topology: hubs (`edges[].hub`), edges naming hubs in `cores`, and loops of `cores` references refused
// with the path around them, by the loader and by `relaymesh check`.

import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { edgeOptionsOf, hubOptionsOf } from '../cli/node-options.js';
import { TopologyError, validateTopology, type TopologyProblem } from '../shared/topology.js';
import { runCli, tempDir } from './helpers/cli.js';
import { silentLogger } from './helpers/mesh.js';

const core = { id: 'central', listen: '127.0.0.1:7400', url: 'ws://127.0.0.1:7400', region: 'us' };

function edge(id: string, port: number, cores: string[], extra: Record<string, unknown> = {}) {
  return { id, listen: `127.0.0.1:${port}`, url: `ws://127.0.0.1:${port}`, region: 'eu', cores, ...extra };
}

function problemsOf(value: unknown): readonly TopologyProblem[] {
  try {
    validateTopology(value, 'tiers.json');
  } catch (error) {
    if (error instanceof TopologyError) return error.problems;
    throw error;
  }
  return [];
}

test('an edge names a hub in its cores, before the core; the hub takes the identities a core checks', (t) => {
  const topology = validateTopology(
    {
      cores: [core],
      edges: [
        edge('eu-hub', 8400, ['central'], { hub: true, secretEnv: 'HUB_SECRET' }),
        edge('eu-1', 8401, ['eu-hub', 'central'], { secretEnv: 'EU1_SECRET' }),
      ],
    },
    'tiers.json',
    { HUB_SECRET: 'h'.repeat(32), EU1_SECRET: 'e'.repeat(32) },
  );
  t.true(topology.edges[0]!.hub);
  t.is(topology.edges[1]!.hub, undefined);
  const env = { HUB_SECRET: 'h'.repeat(32), EU1_SECRET: 'e'.repeat(32) };
  const behind = edgeOptionsOf(topology, 'eu-1', silentLogger, env);
  t.deepEqual(behind.cores, [
    { id: 'eu-hub', url: 'ws://127.0.0.1:8400' },
    { id: 'central', url: 'ws://127.0.0.1:7400' },
  ]);
  const hub = hubOptionsOf(topology, 'eu-hub', silentLogger, env);
  t.is(hub.edgeSecrets?.get('eu-1'), 'e'.repeat(32));
  t.deepEqual(hub.knownEdges?.get('eu-1'), { url: 'ws://127.0.0.1:8401', region: 'eu' });
});

test('cores may name only cores and hubs (not itself, not a plain edge), and hub is true or false', (t) => {
  const problems = problemsOf({
    cores: [core],
    edges: [
      edge('eu-hub', 8400, ['eu-hub'], { hub: true }),
      edge('eu-1', 8401, ['eu-2']),
      edge('eu-2', 8402, ['central'], { hub: 'yes' }),
    ],
  });
  const byPath = new Map(problems.map((problem) => [problem.path, problem]));
  t.like(byPath.get('$.edges[0].cores[0]'), { found: '"eu-hub"' });
  t.like(byPath.get('$.edges[1].cores[0]'), {
    expected: 'the id of a core or hub in this file (central, eu-hub)',
    found: '"eu-2"',
  });
  t.like(byPath.get('$.edges[2].hub'), { expected: 'true or false', found: '"yes"' });
});

test('a loop of hubs is refused once, with the path around it', (t) => {
  const problems = problemsOf({
    cores: [core],
    edges: [
      edge('hub-a', 8400, ['hub-b', 'central'], { hub: true }),
      edge('hub-b', 8401, ['hub-c'], { hub: true }),
      edge('hub-c', 8402, ['hub-a'], { hub: true }),
      edge('eu-1', 8403, ['hub-c']),
    ],
  });
  const loops = problems.filter((problem) => /loop/.test(problem.expected));
  t.is(loops.length, 1, JSON.stringify(problems));
  t.like(loops[0], {
    path: '$.edges[0].cores',
    expected: 'no loop through hubs (this one: hub-a → hub-b → hub-c → hub-a)',
  });
  // A chain that ends at a core is fine, however deep.
  t.deepEqual(
    problemsOf({
      cores: [core],
      edges: [
        edge('hub-a', 8400, ['central'], { hub: true }),
        edge('hub-b', 8401, ['hub-a', 'central'], { hub: true }),
        edge('eu-1', 8403, ['hub-b', 'hub-a', 'central']),
      ],
    }),
    [],
  );
});

test('relaymesh check refuses a loop of hubs with the path shown', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'loop.json');
  await writeFile(
    file,
    JSON.stringify({
      cores: [core],
      edges: [edge('hub-a', 8400, ['hub-b'], { hub: true }), edge('hub-b', 8401, ['hub-a'], { hub: true })],
    }),
  );
  const { code, stderr } = await runCli(t, ['check', file]);
  t.is(code, 1);
  t.regex(stderr, /\$\.edges\[0\]\.cores/);
  t.regex(stderr, /hub-a → hub-b → hub-a/);
});
