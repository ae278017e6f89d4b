// The SDK's pending requests across reconnects (client/pending-requests.ts): what is asked again, what fails, and
// that a subscription the app gave up is never asked again.

import test from 'ava';
import { PendingRequests } from '../client/pending-requests.js';
import type { ClientOp } from '../shared/protocol.js';
import { parseServerOp } from '../shared/server-op-parser.js';

function wire(): { sent: ClientOp[]; send(op: ClientOp): void } {
  const sent: ClientOp[] = [];
  return { sent, send: (op) => sent.push(op) };
}

test('a sent sub is asked again after a reconnect; a sent pub fails unavailable', async (t) => {
  const requests = new PendingRequests();
  const first = wire();
  void requests.add('sub', 'news.a', () => ({ op: 'sub', topic: 'news.a' }), undefined, first.send);
  const pub = requests.add('pub', 'news.a', () => ({ op: 'pub', topic: 'news.a', data: 1 }), undefined, first.send);
  t.is(first.sent.length, 2);
  requests.connectionLost(1006);
  await t.throwsAsync(pub, { message: /connection lost \(1006\)/ });
  const second = wire();
  requests.sendUnsent(second.send);
  t.like(second.sent, [{ op: 'sub', topic: 'news.a' }]);
  t.is(second.sent.length, 1);
  t.true(requests.subscribing('news.a'));
});

test('a sub the app gave up while it was on the wire is not asked again after a reconnect', (t) => {
  const requests = new PendingRequests();
  const first = wire();
  void requests.add('sub', 'news.a', () => ({ op: 'sub', topic: 'news.a' }), undefined, first.send);
  requests.cancelSubscribe('news.a');
  t.false(requests.subscribing('news.a'), 'a given-up subscription is not one the client still waits for');
  // Its late answer on the same connection is taken and ignored.
  t.true(requests.answer(first.sent[0]!.id, { op: 'subok', topic: 'news.a', recovered: false }, undefined));

  void requests.add('sub', 'news.b', () => ({ op: 'sub', topic: 'news.b' }), undefined, first.send);
  requests.cancelSubscribe('news.b');
  requests.connectionLost(1006);
  const second = wire();
  requests.sendUnsent(second.send);
  t.deepEqual(second.sent, []);
});

test('server ops are checked by shape: what is not one is undefined, never half an op', (t) => {
  t.like(parseServerOp({ op: 'msg', topic: 'a', epoch: 'e', offset: 1, data: null }), { op: 'msg', data: null });
  t.like(
    parseServerOp({ op: 'subok', id: 1, topic: 'a.*', recovered: false }),
    { op: 'subok' },
    'a pattern: no position',
  );
  t.like(parseServerOp({ op: 'error', code: 'forbidden', message: 'no' }), { code: 'forbidden' });
  // A code this client does not know still answers its request, as `internal`, instead of leaving it waiting.
  t.like(parseServerOp({ op: 'error', id: 3, code: 'no_such_code', message: 'x' }), { id: 3, code: 'internal' });
  for (const bad of [
    null,
    [],
    'msg',
    { op: 'nope' },
    { op: 'toString' },
    { op: 'msg', topic: 'a', epoch: 'e', offset: 1 },
    { op: 'msg', topic: 'a', epoch: 'e', offset: -1, data: 1 },
    { op: 'msg', topic: 'a', epoch: 'e', offset: 1, data: 'x', enc: 'hex' },
    { op: 'subok', topic: 'a', recovered: false, epoch: 'e' },
    { op: 'puback', id: {}, epoch: 'e', offset: 1 },
    { op: 'welcome', session: 's', edge: 'e', region: 'r' },
    { op: 'error', code: 7, message: 'x' },
  ])
    t.is(parseServerOp(bad), undefined, JSON.stringify(bad));
});
