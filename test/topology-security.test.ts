// The security settings of a topology: token auth, publish keys, TLS files, CA, edge secrets and origins,
// each checked with the environment it names.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { TopologyError, validateTopology } from '../shared/topology.js';

const core = { id: 'c', listen: '127.0.0.1:0', url: 'ws://127.0.0.1:1', region: 'x' };
const edge = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  listen: '127.0.0.1:0',
  url: 'ws://127.0.0.1:2',
  region: 'x',
  cores: ['c'],
  ...extra,
});

function problems(value: unknown, file: string, env: Record<string, string>): string[] {
  try {
    validateTopology(value, file, env);
  } catch (error) {
    if (error instanceof TopologyError)
      return error.problems.map((problem) => `${problem.path}: ${problem.expected} / ${problem.found}`);
    throw error;
  }
  return [];
}

test('security settings load with their files resolved next to the topology and their variables set', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-security-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of ['core.pem', 'core-key.pem', 'ca.pem', 'public.pem']) await writeFile(join(dir, name), 'pem');
  const file = join(dir, 'topology.json');
  const topology = validateTopology(
    {
      auth: { tokens: { alg: 'EdDSA', publicKeyFile: 'public.pem' }, publishKeysEnv: 'KEYS' },
      cores: [{ ...core, tls: { cert: 'core.pem', key: 'core-key.pem' } }],
      edges: [
        edge('e1', { secretEnv: 'E1', ca: 'ca.pem', origins: ['https://app.example.com', 'http://localhost:3000'] }),
        edge('e2', { secretEnv: 'E2' }),
      ],
    },
    file,
    { KEYS: 'k1,k2', E1: 's1', E2: 's2' },
  );
  t.deepEqual(topology.auth, {
    tokens: { alg: 'EdDSA', publicKeyFile: join(dir, 'public.pem') },
    publishKeysEnv: 'KEYS',
  });
  t.deepEqual(topology.cores[0]!.tls, { cert: join(dir, 'core.pem'), key: join(dir, 'core-key.pem') });
  t.is(topology.edges[0]!.ca, join(dir, 'ca.pem'));
  t.deepEqual(topology.edges[0]!.origins, ['https://app.example.com', 'http://localhost:3000']);
  t.is(topology.edges[1]!.secretEnv, 'E2');
});

test('missing variables and files, bad algorithms and origins, and a secret on one edge only are all reported', (t) => {
  const found = problems(
    {
      auth: { tokens: { alg: 'none', secretEnv: 'NOPE' }, publishKeysEnv: 'UNSET' },
      cores: [{ ...core, tls: { cert: 'missing.pem' } }],
      edges: [
        edge('e1', { secretEnv: 'E1', origins: ['https://ok.example.com', 'https://x.example.com/path', 'nope'] }),
        edge('e2'),
      ],
    },
    '/nowhere/topology.json',
    { E1: 'set' },
  );
  const paths = found.map((line) => line.split(':')[0]);
  t.true(paths.includes('$.auth.tokens.alg'), found.join('\n'));
  t.true(paths.includes('$.auth.publishKeysEnv'));
  t.true(paths.includes('$.cores[0].tls.cert'));
  t.true(paths.includes('$.cores[0].tls.key'));
  t.true(paths.includes('$.edges[0].origins[1]'));
  t.true(paths.includes('$.edges[0].origins[2]'));
  t.true(paths.includes('$.edges[1].secretEnv'));
  t.true(found.some((line) => line.includes('UNSET not set')));
});

test('HS256 needs a secret variable and no key file; EdDSA and RS256 need a key file and no secret', (t) => {
  const base = { cores: [core], edges: [edge('e1', { secretEnv: 'E1' })] };
  t.deepEqual(
    problems({ ...base, auth: { tokens: { alg: 'HS256', secretEnv: 'S' } } }, '', { S: 'secret', E1: 'edge' }),
    [],
  );
  t.true(
    problems({ ...base, auth: { tokens: { alg: 'HS256', secretEnv: 'S' } } }, '', {}).some((line) =>
      line.startsWith('$.auth.tokens.secretEnv'),
    ),
  );
  t.true(
    problems({ ...base, auth: { tokens: { alg: 'RS256', secretEnv: 'S' } } }, '', { S: 'x' }).some((line) =>
      line.startsWith('$.auth.tokens.secretEnv'),
    ),
  );
  t.true(
    problems({ ...base, auth: { tokens: { alg: 'RS256' } } }, '', {}).some((line) =>
      line.startsWith('$.auth.tokens.publicKeyFile'),
    ),
  );
});

test('client tokens or publish keys need a secret on every edge: an unproven uplink would bypass them', (t) => {
  const base = { cores: [core], edges: [edge('e1'), edge('e2')] };
  const env = { S: 'secret', KEYS: 'k' };
  for (const auth of [{ tokens: { alg: 'HS256', secretEnv: 'S' } }, { publishKeysEnv: 'KEYS' }]) {
    const found = problems({ ...base, auth }, '', env);
    t.deepEqual(
      found.map((line) => line.split(':')[0]),
      ['$.edges[0].secretEnv', '$.edges[1].secretEnv'],
      found.join('\n'),
    );
    t.regex(found[0]!, new RegExp(`as auth\\.${Object.keys(auth)[0]} is set`));
  }
  t.regex(
    problems({ ...base, auth: { tokens: { alg: 'HS256', secretEnv: 'S' }, publishKeysEnv: 'KEYS' } }, '', env)[0]!,
    /auth\.tokens and auth\.publishKeysEnv are set/,
  );
  // No auth at all is allowed (it runs open, with a warning); secrets without auth too.
  t.deepEqual(problems(base, '', env), []);
  t.deepEqual(
    problems({ ...base, edges: [edge('e1', { secretEnv: 'S' }), edge('e2', { secretEnv: 'S' })] }, '', env),
    [],
  );
});

test('hooks load with their defaults, and every problem in them is reported', (t) => {
  const topology = validateTopology(
    {
      hooks: { connect: 'http://127.0.0.1:9000/rm/connect', keyEnv: 'HOOK' },
      cores: [core],
      edges: [edge('e1', { secretEnv: 'E1' })],
    },
    '',
    { HOOK: 'k', E1: 's1' },
  );
  t.deepEqual(topology.hooks, { connect: 'http://127.0.0.1:9000/rm/connect', keyEnv: 'HOOK', timeoutMs: 2000 });
  t.deepEqual(
    problems(
      {
        hooks: { connect: 'ftp://x/y', subscribe: 'not a url', publish: 42, timeoutMs: 0, keyEnv: 'UNSET', extra: 1 },
        cores: [core],
        edges: [edge('e1')],
      },
      '',
      {},
    ).sort(),
    [
      '$.hooks.extra: one of the known fields (connect, subscribe, publish, timeoutMs, keyEnv) / "extra"',
      '$.hooks.connect: an http:// or https:// URL / "ftp://x/y"',
      '$.hooks.subscribe: an http:// or https:// URL / "not a url"',
      '$.hooks.publish: an http:// or https:// URL / 42',
      '$.hooks.timeoutMs: a positive integer up to 2147483647 / 0',
      '$.hooks.keyEnv: the environment variable UNSET to be set / "UNSET not set"',
      '$.edges[0].secretEnv: a secretEnv, as hooks is set (an uplink without edge identity would bypass it) / nothing',
    ].sort(),
  );
  t.deepEqual(
    problems({ hooks: { timeoutMs: 100 }, cores: [core], edges: [edge('e1', { secretEnv: 'E1' })] }, '', { E1: 's' }),
    ['$.hooks: at least one of connect, subscribe, publish / {"timeoutMs":100}'],
  );
});
