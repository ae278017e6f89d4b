// End-to-end tests of the `relaymesh` command line (docs/protocol.md §6, §7), run as real child processes:
// `check` on good, broken and missing files, `up` on a temporary topology with `sub` and `pub` against it, and `--help`.

import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, root, runCli, runTopology, startCli, tempDir, untilStatus, type Cli } from './helpers/cli.js';

test('--help lists the commands', async (t) => {
  const { code, stdout } = await runCli(t, ['--help']);
  t.is(code, 0);
  for (const command of ['up', 'core', 'edge', 'check', 'pub', 'sub']) {
    t.regex(stdout, new RegExp(`^\\s+relaymesh ${command}\\b`, 'm'), `--help lists ${command}`);
  }
});

test('no command, or an unknown one, exits 1 with a hint', async (t) => {
  const none = await runCli(t, []);
  t.is(none.code, 1);
  t.regex(none.stderr, /--help/);
  const unknown = await runCli(t, ['frobnicate']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /frobnicate/);
});

test('check on the repository topology.json exits 0', async (t) => {
  const explicit = await runCli(t, ['check', 'topology.json']);
  t.is(explicit.code, 0, explicit.stderr);
  t.regex(explicit.stdout, /topology\.json: ok/);
  const implicit = await runCli(t, ['check']);
  t.is(implicit.code, 0, implicit.stderr);
  t.regex(implicit.stdout, /topology\.json: ok/);
});

test('check on a broken topology exits 1 and lists every problem with its file and JSON path', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'broken.json');
  await writeFile(
    file,
    JSON.stringify(
      {
        cores: [{ id: 'central', listen: '127.0.0.1:99999', url: 'http://core', region: '' }],
        edges: [
          { id: 'eu 1', listen: 'nohost', url: 'ws://127.0.0.1:8401', region: 'eu', cores: ['nowhere'] },
          {
            id: 'central',
            listen: '127.0.0.1:8402',
            url: 'ws://127.0.0.1:8402',
            region: 'us',
            cores: ['central'],
            colour: 'red',
          },
        ],
        limits: { maxMessageBytes: -1 },
      },
      null,
      2,
    ),
  );
  const { code, stdout, stderr } = await runCli(t, ['check', file]);
  t.is(code, 1);
  t.is(stdout, '', 'nothing claims the file is ok');
  const paths = [
    '$.cores[0].listen',
    '$.cores[0].url',
    '$.cores[0].region',
    '$.edges[0].id',
    '$.edges[0].listen',
    '$.edges[0].cores[0]',
    '$.edges[1].id',
    '$.edges[1].colour',
    '$.limits.maxMessageBytes',
  ];
  const lines = stderr.split('\n');
  for (const path of paths) {
    const line = lines.find((candidate) => candidate.includes(`: ${path}: `));
    t.truthy(line, `a problem at ${path}:\n${stderr}`);
    t.true(line?.startsWith(file) ?? false, `the problem names the file: ${line}`);
    t.regex(line ?? '', /expected .+, found .+/, `the problem says what was expected and found: ${line}`);
  }
  t.regex(stderr, new RegExp(`\\b${paths.length} problem`), 'the count of problems');
  t.regex(lines.find((line) => line.includes('$.edges[0].cores[0]')) ?? '', /"nowhere"/, 'the value found is shown');
});

test('check on a missing file, or a file that is not JSON, exits 1 and says why', async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'missing.json');
  const gone = await runCli(t, ['check', missing]);
  t.is(gone.code, 1);
  t.true(gone.stderr.includes(missing), gone.stderr);
  t.regex(gone.stderr, /readable|ENOENT/);

  const notJson = join(dir, 'not-json.json');
  await writeFile(notJson, '{\n  "cores": [],\n  "edges": [],\n}\n');
  const bad = await runCli(t, ['check', notJson]);
  t.is(bad.code, 1);
  t.true(bad.stderr.includes(notJson), bad.stderr);
  t.regex(bad.stderr, /valid JSON/);
  t.regex(bad.stderr, /line 4/, 'the line of the syntax error');
});

test('up with a broken topology exits 1 before anything listens; core --id of an unknown node exits 1', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'broken.json');
  await writeFile(
    file,
    JSON.stringify({
      cores: [],
      edges: [{ id: 'e', listen: '127.0.0.1:0', url: 'ws://127.0.0.1:1', region: 'x', cores: ['c'] }],
    }),
  );
  const up = await runCli(t, ['up', '--topology', file]);
  t.is(up.code, 1);
  t.is(up.stdout, '', 'no node printed that it listens');
  t.regex(up.stderr, /\$\.cores/);
  t.regex(up.stderr, /\$\.edges\[0\]\.cores\[0\]/);

  const unknown = await runCli(t, ['core', '--id', 'no-such-core', '--topology', join(root, 'topology.json')]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no-such-core/);
  t.is(unknown.stdout, '');
});

/** Runs `relaymesh up` on a topology of one core and two edges with free ports. */
async function upMesh(t: ExecutionContext): Promise<{ up: Cli; ports: { core: number; eu: number; us: number } }> {
  const {
    cli,
    ports: [core, eu, us],
  } = await runTopology(t, {
    command: ['up'],
    portCount: 3,
    nodes: 3,
    build: ([core, eu, us]) => ({
      cores: [{ id: 'central', listen: `127.0.0.1:${core}`, url: `ws://127.0.0.1:${core}`, region: 'us' }],
      edges: [
        { id: 'eu-1', listen: `127.0.0.1:${eu}`, url: `ws://127.0.0.1:${eu}`, region: 'eu', cores: ['central'] },
        { id: 'us-1', listen: `127.0.0.1:${us}`, url: `ws://127.0.0.1:${us}`, region: 'us', cores: ['central'] },
      ],
    }),
  });
  return { up: cli, ports: { core: core!, eu: eu!, us: us! } };
}

test('up runs every node; sub and pub work against it; SIGTERM stops it with exit 0', async (t) => {
  const { up, ports } = await upMesh(t);
  const lines = up.stdout.trim().split('\n');
  t.true(
    lines.some((line) => line.startsWith('core central') && line.includes(`ws://127.0.0.1:${ports.core}`)),
    up.stdout,
  );
  t.true(
    lines.some((line) => line.startsWith('edge eu-1') && line.includes(`ws://127.0.0.1:${ports.eu}/v1/ws`)),
    up.stdout,
  );
  t.true(
    lines.some((line) => line.startsWith('edge us-1') && line.includes(`ws://127.0.0.1:${ports.us}/v1/ws`)),
    up.stdout,
  );

  t.like(await untilStatus(`http://127.0.0.1:${ports.core}/healthz`, 200), {
    status: 'ok',
    role: 'core',
    id: 'central',
  });
  t.like(await untilStatus(`http://127.0.0.1:${ports.eu}/healthz`, 200), { status: 'ok', role: 'edge', id: 'eu-1' });
  t.like(await untilStatus(`http://127.0.0.1:${ports.us}/healthz`, 200), { status: 'ok', role: 'edge', id: 'us-1' });

  // Subscribe on one edge, publish through the other edge (JSON data) and through the core (a plain string).
  const sub = startCli(t, ['sub', '--url', `ws://127.0.0.1:${ports.us}`, '--count', '2', 'cli.topic']);
  await sub.waitFor(() => /subscribed to cli\.topic/.test(sub.stderr), 'the subscription');
  const pubJson = await runCli(t, ['pub', '--url', `ws://127.0.0.1:${ports.eu}`, 'cli.topic', '{"a":1}']);
  t.is(pubJson.code, 0, pubJson.stderr);
  const position = JSON.parse(pubJson.stdout) as { epoch: string; offset: number };
  t.is(position.offset, 1);
  t.is(typeof position.epoch, 'string');
  const pubText = await runCli(t, ['pub', '--url', `http://127.0.0.1:${ports.core}`, 'cli.topic', 'hello there']);
  t.is(pubText.code, 0, pubText.stderr);
  t.like(JSON.parse(pubText.stdout), { epoch: position.epoch, offset: 2 });

  const subExit = await sub.exited;
  t.deepEqual(subExit, { code: 0, signal: null }, sub.stderr);
  const received = sub.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
  t.deepEqual(received, [
    { topic: 'cli.topic', epoch: position.epoch, offset: 1, data: { a: 1 } },
    { topic: 'cli.topic', epoch: position.epoch, offset: 2, data: 'hello there' },
  ]);

  // A refused publish exits 1 and says why.
  const badTopic = await runCli(t, ['pub', '--url', `ws://127.0.0.1:${ports.eu}`, 'bad..topic', '1']);
  t.is(badTopic.code, 1);
  t.regex(badTopic.stderr, /400/);
  t.regex(badTopic.stderr, /invalid_topic/);

  up.process.kill('SIGTERM');
  t.deepEqual(await up.exited, { code: 0, signal: null }, up.stderr);
});

test('pub to a node that is not there exits 1', async (t) => {
  const [port] = (await freePorts(1)) as [number];
  const { code, stderr } = await runCli(t, ['pub', '--url', `http://127.0.0.1:${port}`, 'some.topic', '1']);
  t.is(code, 1);
  t.regex(stderr, /cannot reach/);
});
