// The SDK's pending requests across reconnects (client/pending-requests.ts): what is asked again, what fails, and
// that a subscription the app gave up is never asked again.

import test from 'ava';
import { PendingRequests, type Frame } from '../client/pending-requests.js';

function wire(): { sent: Frame[]; send(frame: Frame): void } {
  const sent: Frame[] = [];
  return { sent, send: (frame) => sent.push(frame) };
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
  t.true(requests.answer(first.sent[0]!.id, { op: 'subok' }, undefined));

  void requests.add('sub', 'news.b', () => ({ op: 'sub', topic: 'news.b' }), undefined, first.send);
  requests.cancelSubscribe('news.b');
  requests.connectionLost(1006);
  const second = wire();
  requests.sendUnsent(second.send);
  t.deepEqual(second.sent, []);
});
