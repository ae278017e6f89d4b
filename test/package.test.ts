// The package as users get it: `npm pack`, installed into a throwaway plain-JavaScript app with nothing but its own
// dependencies. There it imports the SDK (Node, and bundled for browsers), receives a message from a running mesh,
// and runs the command line; and the tarball holds no tests, benchmarks or TypeScript sources.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { build } from 'esbuild';
import { root, startNode } from './helpers/cli.js';
import { publish } from './helpers/http-publish.js';
import { startMesh } from './helpers/mesh.js';
import { within } from './helpers/within.js';

const run = promisify(execFile);
const npmTimeoutMs = 240_000;

test('the packed tarball works in a plain JavaScript app: the SDK receives a message, the CLI runs', async (t) => {
  t.timeout(300_000);
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-package-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  // `npm test` has just built dist/: pack it as it is.
  const { stdout: packed } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], {
    cwd: root,
    timeout: npmTimeoutMs,
  });
  const { filename, files } = (JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!;
  const paths = files.map((file) => file.path);
  t.true(
    paths.includes('dist/cli/main.js') &&
      paths.includes('dist/client/node.d.ts') &&
      paths.includes('dist/web/relaymesh.js'),
  );
  t.deepEqual(
    paths.filter((path) => /^(test|bench)\/|^dist\/(test|bench)\/|\.ts$/.test(path) && !path.endsWith('.d.ts')),
    [],
    'no tests, no benchmarks, no TypeScript sources',
  );

  const app = join(dir, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'plain-app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, filename)], {
    cwd: app,
    timeout: npmTimeoutMs,
  });
  t.false((await readdir(join(app, 'node_modules'))).includes('tsx'), 'no TypeScript loader installed');

  // The SDK in Node: subscribe, say so, print the first message, leave.
  await writeFile(
    join(app, 'subscriber.js'),
    `import { NodeMeshClient } from 'relaymesh';
const client = new NodeMeshClient({ url: process.argv[2] });
await client.subscribe('package.topic', {
  onMessage: async (message) => {
    console.log(JSON.stringify(message.data));
    await client.close();
  },
});
console.log('subscribed');
`,
  );
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }] });
  const subscriber = startNode(t, ['subscriber.js', mesh.edges[0]!.url], { cwd: app });
  await subscriber.waitFor(() => subscriber.stdout.includes('subscribed'), 'the subscription');
  await publish(mesh.core, 'package.topic', { hello: 'from the mesh' });
  t.deepEqual(await within(subscriber.exited, 'the subscriber', 30_000), { code: 0, signal: null }, subscriber.stderr);
  t.regex(subscriber.stdout, /\{"hello":"from the mesh"\}/);

  // The SDK for browsers: the package's `browser` export bundles without any Node built-in.
  await writeFile(
    join(app, 'page.js'),
    `import { MeshClient } from 'relaymesh';\nexport const client = new MeshClient({ url: 'ws://edge' });\n`,
  );
  const bundled = await build({
    absWorkingDir: app,
    entryPoints: ['page.js'],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  t.true(bundled.outputFiles[0]!.text.includes('relaymesh.v1.json'));

  // The command line, compiled, with the production dependencies only.
  const bin = join(app, 'node_modules', '.bin', 'relaymesh');
  const help = await run(bin, ['--help'], { cwd: app });
  t.regex(help.stdout, /relaymesh up/);
  const check = await run(bin, ['check', join(root, 'topology.json')], { cwd: app });
  t.regex(check.stdout, /ok \(1 core\(s\), 2 edge\(s\)\)/);
  const bench = await run(bin, ['bench', 'fanout'], { cwd: app }).catch(
    (error: { code: number; stderr: string }) => error,
  );
  t.is((bench as { code: number }).code, 1);
  t.regex((bench as { stderr: string }).stderr, /runs from a clone of the repository/);
});
