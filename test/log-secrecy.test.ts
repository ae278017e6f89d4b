// Logs never contain a token, secret or key: a full scenario — tokens good and bad, publish keys good and bad,
// edge secrets right and wrong — runs with every node logging at trace level, and the logs are scanned.

import test from 'ava';
import { SignJWT } from 'jose';
import { startCore } from '../core/start-core.js';
import { startEdge } from '../edge/start-edge.js';
import { RawClient } from './helpers/raw-client.js';
import { capturedLog } from './helpers/captured-log.js';

test('no token, secret or key appears in any log line of a full scenario', async (t) => {
  const { logger, lines } = capturedLog('trace');
  const tokenSecret = 'token-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
  const edgeSecret = 'edge-secret-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
  const wrongEdgeSecret = 'wrong-edge-secret-ffeeddccbbaa99887766554433';
  const publishKey = 'publish-key-1234567890abcdef1234567890';
  process.env.RELAYMESH_LOG_TEST_SECRET = tokenSecret;

  const core = await startCore({
    id: 'central',
    logger,
    publishKeys: [publishKey],
    edgeSecrets: new Map([
      ['eu-1', edgeSecret],
      ['us-1', edgeSecret],
    ]),
  });
  t.teardown(() => core.close());
  const edgeOptions = {
    region: 'eu',
    logger,
    cores: [{ id: 'central', url: core.url }],
    tokens: { alg: 'HS256' as const, secretEnv: 'RELAYMESH_LOG_TEST_SECRET' },
    publishKeys: [publishKey],
  };
  const edge = await startEdge({ id: 'eu-1', secret: edgeSecret, ...edgeOptions });
  t.teardown(() => edge.close());
  await edge.ready();
  // An impostor with the wrong secret is refused (and logged, without either secret).
  const impostor = await startEdge({
    id: 'us-1',
    secret: wrongEdgeSecret,
    ...edgeOptions,
    uplink: { reconnectBaseMs: 1000, reconnectMaxMs: 1000 },
  });
  t.teardown(() => impostor.close());

  const key = new TextEncoder().encode(tokenSecret);
  const token = await new SignJWT({ sub: 'u', topics: { subscribe: ['a.>'], publish: ['a.b'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(key);
  const forged = await new SignJWT({ sub: 'u', topics: { subscribe: ['>'], publish: ['>'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('not-the-secret-but-long-enough-0123456789'));
  const expired = await new SignJWT({ sub: 'u' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(key);

  const client = await RawClient.open(t, edge.url);
  client.send({ op: 'connect', token });
  await client.next((op) => op.op === 'welcome');
  await client.subscribe('a.b', 1);
  await client.subscribe('z.z', 2);
  client.send({ op: 'pub', id: 3, topic: 'a.b', data: 'x' });
  await client.next((op) => op.id === 3);
  for (const bad of [forged, expired, 'garbage']) {
    const rejected = await RawClient.open(t, edge.url);
    rejected.send({ op: 'connect', token: bad });
    await rejected.closed;
  }
  for (const authorization of [`Bearer ${publishKey}`, 'Bearer wrong-key', `Basic ${publishKey}`]) {
    await fetch(`${edge.url.replace(/^ws/, 'http')}/v1/publish`, {
      method: 'POST',
      headers: { authorization },
      body: JSON.stringify({ topic: 'a.b', data: 1 }),
    });
    await fetch(`${core.url.replace(/^ws/, 'http')}/v1/publish`, {
      method: 'POST',
      headers: { authorization },
      body: JSON.stringify({ topic: 'a.b', data: 1 }),
    });
  }
  // Wait for the impostor's refusal to be logged before scanning.
  for (
    let i = 0;
    i < 500 && !lines.some((line) => line.includes('us-1') && /refus|not authenticated/i.test(line));
    i++
  ) {
    await fetch(`${core.url.replace(/^ws/, 'http')}/healthz`);
  }
  t.true(
    lines.some((line) => line.includes('us-1') && /refus|not authenticated/i.test(line)),
    'the impostor was refused and logged',
  );

  const log = lines.join('');
  t.true(
    lines.some((line) => line.includes('client refused: token')),
    'refused tokens were logged',
  );
  for (const [name, secret] of Object.entries({
    tokenSecret,
    edgeSecret,
    wrongEdgeSecret,
    publishKey,
    token,
    forged,
    expired,
  })) {
    t.false(log.includes(secret), `${name} appears in the logs`);
    // Parts of a token (its signature) must not leak either.
    if (secret.split('.').length === 3)
      t.false(log.includes(secret.split('.')[2]!), `${name}'s signature appears in the logs`);
  }
});
