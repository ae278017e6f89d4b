// Where `pub`, `sub` and `status` go without --url (cli/default-url.ts): the topology's first edge or core even when
// the file names secrets this shell does not hold, localhost only when there is no file, and a clear error otherwise.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { defaultUrl } from '../cli/default-url.js';

async function file(t: ExecutionContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-url-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'topology.json');
  await writeFile(path, text);
  return path;
}

test('the first edge and core of a topology that needs secrets this shell does not have', async (t) => {
  const path = await file(
    t,
    JSON.stringify({
      auth: { tokens: { alg: 'HS256', secretEnv: 'RELAYMESH_UNSET_FOR_THIS_TEST' } },
      cores: [{ id: 'c', listen: '0.0.0.0:7400', url: 'wss://core.example:7400', region: 'us' }],
      edges: [
        {
          id: 'e',
          listen: '0.0.0.0:8401',
          url: 'wss://eu.example:8401',
          region: 'eu',
          cores: ['c'],
          secretEnv: 'RELAYMESH_UNSET_EDGE',
        },
      ],
    }),
  );
  t.is(await defaultUrl('edges', path), 'wss://eu.example:8401');
  t.is(await defaultUrl('cores', path), 'wss://core.example:7400');
});

test('no topology file: the default local mesh', async (t) => {
  t.is(await defaultUrl('edges', join(tmpdir(), 'relaymesh-no-such-dir', 'topology.json')), 'ws://127.0.0.1:8401');
  t.is(await defaultUrl('cores', join(tmpdir(), 'relaymesh-no-such-dir', 'topology.json')), 'ws://127.0.0.1:7400');
});

test('a file that is not JSON or names no url is an error that says to pass --url', async (t) => {
  await t.throwsAsync(defaultUrl('edges', await file(t, '{ nope')), { message: /not valid JSON.*--url/ });
  await t.throwsAsync(defaultUrl('edges', await file(t, '{"edges": []}')), {
    message: /names no edge url; pass --url/,
  });
});
