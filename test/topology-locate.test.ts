// Unit tests of the topology's locate settings (`regions`, `locate.regionHeader`) and of `limits.maxConnections` and `uplink.statusMs`: good values parsed, bad ones reported with file and JSON path.

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rankForClient } from '../shared/locate.js';
import type { EdgeStatus } from '../shared/mesh-status.js';
import {
  TopologyError,
  defaultLimits,
  defaultUplink,
  loadTopology,
  validateTopology,
  type TopologyProblem,
} from '../shared/topology.js';

const file = '/etc/relaymesh/topology.json';

const base = {
  cores: [{ id: 'central', listen: '127.0.0.1:7400', url: 'ws://127.0.0.1:7400', region: 'us' }],
  edges: [
    { id: 'us-1', listen: '127.0.0.1:8402', url: 'ws://127.0.0.1:8402', region: 'us', cores: ['central'] },
    { id: 'eu-1', listen: '127.0.0.1:8401', url: 'ws://127.0.0.1:8401', region: 'eu', cores: ['central'] },
    { id: 'ap-1', listen: '127.0.0.1:8403', url: 'ws://127.0.0.1:8403', region: 'ap-south', cores: ['central'] },
  ],
};

function problemsOf(value: unknown): readonly TopologyProblem[] {
  try {
    validateTopology(value, file);
  } catch (error) {
    if (error instanceof TopologyError) return error.problems;
    throw error;
  }
  throw new Error('expected a TopologyError');
}

/** The one problem a topology with `extra` settings has; fails the test unless there is exactly one. */
function onlyProblem(extra: Record<string, unknown>): TopologyProblem {
  const problems = problemsOf({ ...base, ...extra });
  if (problems.length !== 1) throw new Error(`expected one problem, got ${JSON.stringify(problems)}`);
  return problems[0]!;
}

test('without regions or locate: no neighbours, edge ids in file order, the default region header', (t) => {
  const topology = validateTopology(base, file);
  t.deepEqual(topology.locate, { neighbours: {}, order: ['us-1', 'eu-1', 'ap-1'], regionHeader: 'x-relaymesh-region' });
  t.deepEqual(
    validateTopology({ ...base, locate: {} }, file).locate.regionHeader,
    'x-relaymesh-region',
    'an empty locate object keeps the default',
  );
});

test('regions and locate parse into topology.locate; the header name is lower-cased', (t) => {
  const topology = validateTopology(
    {
      ...base,
      regions: { eu: { neighbours: ['us', 'ap-south'] }, us: { neighbours: ['eu'] }, 'ap-south': { neighbours: [] } },
      locate: { regionHeader: 'CF-Client-Region' },
    },
    file,
  );
  t.deepEqual(topology.locate, {
    neighbours: { eu: ['us', 'ap-south'], us: ['eu'], 'ap-south': [] },
    order: ['us-1', 'eu-1', 'ap-1'],
    regionHeader: 'cf-client-region',
  });
  t.true(Object.isFrozen(topology.locate));
  t.true(Object.isFrozen(topology.locate.neighbours.eu));
  t.true(Object.isFrozen(topology.locate.order));
  for (const header of ['x-geo', 'X_GEO.region', "x-a!#$%&'*+.^_`|~"]) {
    t.is(
      validateTopology({ ...base, locate: { regionHeader: header } }, file).locate.regionHeader,
      header.toLowerCase(),
      header,
    );
  }
});

test('regions that are not an object are one problem at $.regions', (t) => {
  for (const regions of [['eu'], 'eu', 7, null]) {
    t.like(
      onlyProblem({ regions }),
      { file, path: '$.regions', expected: 'an object of regions, each {neighbours: [regions, nearest first]}' },
      JSON.stringify(regions),
    );
  }
});

test('a region that is not an object, or whose neighbours are not an array, is reported at its path', (t) => {
  t.like(onlyProblem({ regions: { eu: ['us'] } }), {
    file,
    path: '$.regions.eu',
    expected: 'a region object {neighbours}',
    found: '["us"]',
  });
  t.like(onlyProblem({ regions: { eu: { neighbours: 'us' } } }), {
    file,
    path: '$.regions.eu.neighbours',
    expected: 'an array of region names, nearest first',
    found: '"us"',
  });
  t.like(onlyProblem({ regions: { eu: {} } }), { file, path: '$.regions.eu.neighbours', found: 'nothing' });
  // A region name that is not an identifier gets a bracketed path.
  t.like(onlyProblem({ regions: { 'ap-south': { neighbours: { eu: 1 } } } }), {
    file,
    path: '$.regions["ap-south"].neighbours',
  });
});

test('a neighbour that is the region itself, listed twice, or not a region name is reported at its index', (t) => {
  t.like(onlyProblem({ regions: { eu: { neighbours: ['us', 'eu'] } } }), {
    file,
    path: '$.regions.eu.neighbours[1]',
    expected: 'a region other than this one, listed once',
    found: '"eu"',
  });
  t.like(onlyProblem({ regions: { eu: { neighbours: ['us', 'ap-south', 'us'] } } }), {
    file,
    path: '$.regions.eu.neighbours[2]',
    expected: 'a region other than this one, listed once',
    found: '"us"',
  });
  t.like(onlyProblem({ regions: { eu: { neighbours: ['us', 7] } } }), {
    file,
    path: '$.regions.eu.neighbours[1]',
    expected: 'a region name',
    found: '7',
  });
  t.like(onlyProblem({ regions: { eu: { neighbours: [''] } } }), {
    file,
    path: '$.regions.eu.neighbours[0]',
    expected: 'a region name',
    found: '""',
  });
  t.like(onlyProblem({ regions: { eu: { neighbours: [null] } } }), {
    file,
    path: '$.regions.eu.neighbours[0]',
    found: 'null',
  });
});

test('unknown fields in a region or in locate are reported', (t) => {
  t.like(onlyProblem({ regions: { eu: { neighbours: ['us'], nearest: 'us' } } }), {
    file,
    path: '$.regions.eu.nearest',
    expected: 'one of the known fields (neighbours)',
    found: '"nearest"',
  });
  t.like(onlyProblem({ locate: { regionHeader: 'x-geo', header: 'x-geo' } }), {
    file,
    path: '$.locate.header',
    expected: 'one of the known fields (regionHeader)',
    found: '"header"',
  });
  t.like(onlyProblem({ locate: 'x-geo' }), {
    file,
    path: '$.locate',
    expected: 'a locate object {regionHeader}',
    found: '"x-geo"',
  });
});

test('a region header that is not an HTTP header name is reported at $.locate.regionHeader', (t) => {
  for (const header of ['x region', '', 'x-geo:', 'x/geo', 'région', 7, null, ['x-geo']]) {
    t.like(
      onlyProblem({ locate: { regionHeader: header } }),
      {
        file,
        path: '$.locate.regionHeader',
        expected: 'an HTTP header name (letters, digits, "-")',
      },
      JSON.stringify(header),
    );
  }
});

test('every problem of regions and locate is listed at once, one line each naming the file', (t) => {
  const error = t.throws(
    () =>
      validateTopology(
        {
          ...base,
          regions: { eu: { neighbours: ['eu', 'us', 'us'] }, us: { neighbours: 'eu' }, ap: 3 },
          locate: { regionHeader: 'bad header', extra: true },
        },
        file,
      ),
    { instanceOf: TopologyError },
  );
  t.deepEqual(error?.problems.map((problem) => problem.path).sort(), [
    '$.locate.extra',
    '$.locate.regionHeader',
    '$.regions.ap',
    '$.regions.eu.neighbours[0]',
    '$.regions.eu.neighbours[2]',
    '$.regions.us.neighbours',
  ]);
  const lines = error?.message.split('\n') ?? [];
  t.is(lines.length, 6);
  for (const line of lines)
    t.regex(line, /^\/etc\/relaymesh\/topology\.json: \$\.(regions|locate)\S*: expected .+, found .+$/);
});

test('a file on disk with bad regions names that file in its problems', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-topology-locate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'topology.json');
  await writeFile(path, JSON.stringify({ ...base, regions: { eu: { neighbours: ['eu'] } } }, null, 2));
  const error = await t.throwsAsync(loadTopology(path), { instanceOf: TopologyError });
  t.deepEqual(error?.problems, [
    {
      file: path,
      path: '$.regions.eu.neighbours[0]',
      expected: 'a region other than this one, listed once',
      found: '"eu"',
    },
  ]);
  await writeFile(
    path,
    JSON.stringify({ ...base, regions: { eu: { neighbours: ['us'] } }, locate: { regionHeader: 'X-Geo' } }),
  );
  const topology = await loadTopology(path);
  t.deepEqual(topology.locate, { neighbours: { eu: ['us'] }, order: ['us-1', 'eu-1', 'ap-1'], regionHeader: 'x-geo' });
});

test('limits.maxConnections and uplink.statusMs take positive integers, with defaults', (t) => {
  const defaults = validateTopology(base, file);
  t.is(defaults.limits.maxConnections, defaultLimits.maxConnections);
  t.is(defaults.limits.maxConnections, 100_000);
  t.is(defaults.uplink.statusMs, defaultUplink.statusMs);
  t.is(defaults.uplink.statusMs, 2000);
  const given = validateTopology({ ...base, limits: { maxConnections: 1 }, uplink: { statusMs: 1 } }, file);
  t.is(given.limits.maxConnections, 1);
  t.is(given.uplink.statusMs, 1);
  const large = validateTopology(
    { ...base, limits: { maxConnections: 5_000_000 }, uplink: { statusMs: 60_000 } },
    file,
  );
  t.is(large.limits.maxConnections, 5_000_000);
  t.is(large.uplink.statusMs, 60_000);
  t.deepEqual(
    { ...large.limits, maxConnections: defaultLimits.maxConnections },
    defaultLimits,
    'the other limits keep their defaults',
  );
  t.deepEqual(
    { ...large.uplink, statusMs: defaultUplink.statusMs },
    defaultUplink,
    'the other uplink settings keep their defaults',
  );
});

test('limits.maxConnections and uplink.statusMs refuse 0 and other non-positive-integers', (t) => {
  for (const bad of [0, -1, 1.5, '10', null, Number.NaN]) {
    t.like(
      onlyProblem({ limits: { maxConnections: bad } }),
      { file, path: '$.limits.maxConnections', expected: 'a positive integer' },
      `maxConnections ${String(bad)}`,
    );
    t.like(
      onlyProblem({ uplink: { statusMs: bad } }),
      { file, path: '$.uplink.statusMs', expected: 'a positive integer up to 2147483647' },
      `statusMs ${String(bad)}`,
    );
  }
  t.like(
    onlyProblem({ uplink: { statusMs: 2_147_483_648 } }),
    { path: '$.uplink.statusMs', found: '2147483648' },
    'no longer than a timer can wait',
  );
  t.like(
    onlyProblem({ limits: { maxConnection: 5 } }),
    { path: '$.limits.maxConnection' },
    'a misspelt setting is not ignored',
  );
});

test('regions and locate are known top-level fields', (t) => {
  const problem = onlyProblem({ region: {} });
  t.is(problem.path, '$.region');
  t.regex(problem.expected, /\bregions\b/);
  t.regex(problem.expected, /\blocate\b/);
});

// A region named "__proto__" (an own key after JSON.parse) must not replace the settings object's prototype.
test('a region named "__proto__" is kept as an entry or reported, never turned into a prototype', (t) => {
  const regions = JSON.parse('{"__proto__": {"neighbours": ["us"]}}') as unknown;
  let problems: readonly TopologyProblem[] = [];
  let neighbours: object = {};
  try {
    neighbours = validateTopology({ ...base, regions }, file).locate.neighbours;
  } catch (error) {
    if (!(error instanceof TopologyError)) throw error;
    problems = error.problems;
  }
  t.true(
    problems.some((problem) => problem.path.startsWith('$.regions.__proto__')) ||
      Object.hasOwn(neighbours, '__proto__'),
  );
  t.is(Object.getPrototypeOf(neighbours), Object.prototype);
});

// The region comes from the client (?region= or a header): one named like an Object.prototype property is just a region.
test('ranking for a client region named like an Object.prototype property does not throw', (t) => {
  const config = validateTopology(base, file).locate;
  const edges: EdgeStatus[] = base.edges.map((edge) => ({
    id: edge.id,
    region: edge.region,
    url: edge.url,
    core: 'central',
    healthy: true,
    draining: false,
    sessions: 0,
    capacity: 10,
    topics: 0,
    deliveries: 0,
    messagesIn: 0,
    published: 0,
  }));
  for (const region of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    t.deepEqual(
      rankForClient(edges, region, config).map((edge) => edge.id),
      ['us-1', 'eu-1', 'ap-1'],
      region,
    );
  }
});
