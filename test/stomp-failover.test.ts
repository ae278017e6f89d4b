// STOMP clients through a lost stream history (the next MESSAGE carries relaymesh-reset and the new epoch) and a
// draining edge (ERROR saying so, then 4503).

import test from 'ava';
import { publisher } from './helpers/http-publish.js';
import { restartableCore, startMesh } from './helpers/mesh.js';
import { RawClient } from './helpers/raw-client.js';
import { RawStomp, header } from './helpers/stomp.js';
import { within } from './helpers/within.js';

test('a restarted in-memory core: the STOMP client stays connected, the next MESSAGE says relaymesh-reset', async (t) => {
  const { core: first, edge, restartCore } = await restartableCore(t);
  const native = await RawClient.connected(t, edge.url);
  await native.subscribe('prices.eur', 1);
  const raw = await RawStomp.connected(t, edge.url);
  raw.send('SUBSCRIBE', [
    ['id', 's'],
    ['destination', '/topic/prices.eur'],
    ['receipt', 'r'],
  ]);
  await raw.next((frame) => frame.command === 'RECEIPT');
  const before = await publisher(first)('prices.eur', 'before');
  const old = await raw.next((frame) => frame.command === 'MESSAGE');
  t.is(header(old, 'relaymesh-reset'), undefined);

  const second = await restartCore();
  // A native client on the same topic tells when the edge has learnt the new epoch.
  await within(
    native.next((op) => op.op === 'reset'),
    'native reset',
  );
  const after = await publisher(second)('prices.eur', 'after');
  const message = await raw.next((frame) => frame.command === 'MESSAGE' && frame !== old);
  t.not(after.epoch, before.epoch);
  t.is(header(message, 'relaymesh-reset'), `${after.epoch}:0`);
  t.is(header(message, 'message-id'), `${after.epoch}:1`);
  t.is(message.body.toString(), 'after');
  t.is(edge.sessionCount, 2);
});

test('a draining edge ends STOMP sessions with ERROR and 4503', async (t) => {
  const mesh = await startMesh(t, { edges: [{ id: 'eu-1', region: 'eu' }], edge: { limits: { drainGraceMs: 100 } } });
  const raw = await RawStomp.connected(t, mesh.edges[0]!.url);
  void mesh.edges[0]!.drain();
  const error = await raw.next((frame) => frame.command === 'ERROR');
  t.regex(header(error, 'message')!, /draining/);
  t.is((await within(raw.closed, 'close')).code, 4503);
});
