// Client tokens at the edge (docs/protocol.md §5): configured algorithm and key only, `exp` required, topic claims
// enforced on every sub and pub, expiry ends the session unless renewed; and `relaymesh token` mints them.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { SignJWT, UnsecuredJWT, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { cli } from './helpers/cli.js';
import { startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';

const secret = 'test-secret-that-is-long-enough-for-hs256';
process.env.RELAYMESH_TEST_TOKEN_SECRET = secret;
const hs256 = { alg: 'HS256' as const, secretEnv: 'RELAYMESH_TEST_TOKEN_SECRET' };
const key = new TextEncoder().encode(secret);

function mint(
  claims: Record<string, unknown>,
  options: { expiresIn?: number; signWith?: Uint8Array; exp?: boolean } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.exp !== false) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 3600));
  return jwt.sign(options.signWith ?? key);
}

async function connectWith(t: ExecutionContext, url: string, token: string | undefined): Promise<RawClient> {
  const client = await RawClient.open(t, url);
  client.send(token === undefined ? { op: 'connect' } : { op: 'connect', token });
  return client;
}

test('missing, forged, unsigned, expired and exp-less tokens are refused with 4401', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { tokens: hs256 } });
  const url = mesh.edges[0]!.url;
  const claims = { sub: 'u1', topics: { subscribe: ['>'], publish: ['>'] } };
  const tokens: Array<[string, string | undefined]> = [
    ['none', undefined],
    ['forged', await mint(claims, { signWith: new TextEncoder().encode('another-secret-of-enough-length-here') })],
    ['alg none', new UnsecuredJWT(claims).setExpirationTime('1h').encode()],
    ['expired', await mint(claims, { expiresIn: -10 })],
    ['no exp', await mint(claims, { exp: false })],
    ['garbage', 'not.a.token'],
  ];
  for (const [name, token] of tokens) {
    const client = await connectWith(t, url, token);
    t.is((await client.closed).code, 4401, name);
  }
});

test('topic claims: subscriptions must lie inside a permitted pattern, publishes must match one', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { tokens: hs256 } });
  const token = await mint({
    sub: 'user-42',
    topics: { subscribe: ['prices.>', 'user.42.*'], publish: ['chat.room-17'] },
  });
  const client = await connectWith(t, mesh.edges[0]!.url, token);
  t.like(await client.next((op) => op.op === 'welcome'), { op: 'welcome' });
  t.like(await client.subscribe('prices.eur-usd', 1), { op: 'subok' });
  t.like(await client.subscribe('prices.*', 2), { op: 'subok' });
  t.like(await client.subscribe('user.42.inbox', 3), { op: 'subok' });
  t.like(
    await client.subscribe('user.*.inbox', 4),
    { op: 'error', code: 'forbidden' },
    'a wildcard may not widen access',
  );
  t.like(await client.subscribe('>', 5), { op: 'error', code: 'forbidden' });
  t.like(await client.subscribe('orders.1', 6), { op: 'error', code: 'forbidden' });
  client.send({ op: 'pub', id: 7, topic: 'chat.room-17', data: 'hi' });
  t.like(await client.next((op) => op.id === 7), { op: 'puback' });
  client.send({ op: 'pub', id: 8, topic: 'chat.room-18', data: 'hi' });
  t.like(await client.next((op) => op.id === 8), { op: 'error', code: 'forbidden' });
});

test('a token that expires while connected ends the session with 4401; a renewed one keeps it', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { tokens: hs256 } });
  const claims = { topics: { subscribe: ['a.>'], publish: [] } };
  // exp has whole seconds: 2 s leaves at least one for the welcome.
  const expiring = await connectWith(t, mesh.edges[0]!.url, await mint(claims, { expiresIn: 2 }));
  await expiring.next((op) => op.op === 'welcome');
  t.is((await expiring.closed).code, 4401);

  const renewed = await connectWith(t, mesh.edges[0]!.url, await mint(claims, { expiresIn: 3600 }));
  await renewed.next((op) => op.op === 'welcome');
  t.like(await renewed.subscribe('b.x', 1), { op: 'error', code: 'forbidden' });
  // A new connect with a wider token renews the session and its permissions.
  renewed.send({
    op: 'connect',
    id: 'renew',
    token: await mint({ topics: { subscribe: ['a.>', 'b.>'], publish: [] } }),
  });
  t.like(await renewed.next((op) => op.id === 'renew'), { op: 'welcome' });
  t.like(await renewed.subscribe('b.x', 2), { op: 'subok' });
  // A renewal with a bad token is refused, and the session goes on with the token it had.
  renewed.send({ op: 'connect', id: 'bad', token: 'not.a.token' });
  t.like(await renewed.next((op) => op.id === 'bad'), { op: 'error', code: 'unauthorized' });
  t.like(await renewed.subscribe('b.y', 3), { op: 'subok' });
});

test('EdDSA tokens are checked with the public key file; `relaymesh token` mints HS256 tokens from the topology', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-auth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  await writeFile(join(dir, 'public.pem'), await exportSPKI(publicKey));
  await writeFile(join(dir, 'private.pem'), await exportPKCS8(privateKey));
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { tokens: { alg: 'EdDSA', publicKeyFile: join(dir, 'public.pem') } },
  });
  const good = await new SignJWT({ topics: { subscribe: ['x.>'], publish: [] } })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setExpirationTime('1h')
    .sign(privateKey);
  const client = await connectWith(t, mesh.edges[0]!.url, good);
  t.like(await client.next((op) => op.op === 'welcome'), { op: 'welcome' });
  const hmac = await mint({ topics: { subscribe: ['>'], publish: [] } });
  t.is(
    (await (await connectWith(t, mesh.edges[0]!.url, hmac)).closed).code,
    4401,
    'another algorithm than the configured one is refused',
  );

  // The CLI, with an HS256 topology.
  const topology = join(dir, 'topology.json');
  await writeFile(
    topology,
    JSON.stringify({
      auth: { tokens: hs256 },
      cores: [{ id: 'c', listen: '127.0.0.1:0', url: 'ws://127.0.0.1:1', region: 'x' }],
      edges: [
        {
          id: 'e',
          listen: '127.0.0.1:0',
          url: 'ws://127.0.0.1:2',
          region: 'x',
          cores: ['c'],
          secretEnv: hs256.secretEnv,
        },
      ],
    }),
  );
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [cli, 'token', '--topology', topology, '--sub', 'cli-user', '--subscribe', 'cli.>'],
    { env: process.env },
  );
  const hsMesh = await startMesh(t, { edges: [{ id: 'eu-2', region: 'eu' }], edge: { tokens: hs256 } });
  const minted = await connectWith(t, hsMesh.edges[0]!.url, stdout.trim());
  await minted.next((op) => op.op === 'welcome');
  t.like(await minted.subscribe('cli.topic', 1), { op: 'subok' });
  t.like(await minted.subscribe('other', 2), { op: 'error', code: 'forbidden' });
});

test('a renewal that allows less ends the subscriptions it no longer covers', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { tokens: hs256 } });
  const client = await connectWith(
    t,
    mesh.edges[0]!.url,
    await mint({ topics: { subscribe: ['a.>', 'b.>'], publish: [] } }),
  );
  await client.next((op) => op.op === 'welcome');
  await client.subscribe('a.x', 1);
  await client.subscribe('b.x', 2);
  client.send({ op: 'connect', id: 'narrower', token: await mint({ topics: { subscribe: ['a.>'], publish: [] } }) });
  const dropped = await client.next((op) => op.op === 'error' && op.code === 'forbidden');
  t.regex(String(dropped.message), /b\.x/);
  await client.next((op) => op.id === 'narrower');
  await fetch(`${mesh.http(mesh.core)}/v1/publish`, {
    method: 'POST',
    body: JSON.stringify([
      { topic: 'b.x', data: 'no' },
      { topic: 'a.x', data: 'yes' },
    ]),
  });
  t.like(await client.next((op) => op.op === 'msg'), { topic: 'a.x', data: 'yes' });
});
