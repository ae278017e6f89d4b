// What a STOMP CONNECT negotiates: the version and the heart-beat periods (STOMP 1.2 §Protocol Negotiation, §Heart-beating).

import test from 'ava';
import { negotiateHeartBeats, negotiateVersion } from '../edge/stomp/stomp-negotiation.js';

test('the highest common version; no accept-version means 1.0; nothing in common means none', (t) => {
  t.is(negotiateVersion('1.0,1.1,1.2'), '1.2');
  t.is(negotiateVersion('1.2, 1.1'), '1.2');
  t.is(negotiateVersion('1.0,1.1'), '1.1');
  t.is(negotiateVersion(undefined), '1.0');
  t.is(negotiateVersion('2.0'), undefined);
  t.is(negotiateVersion(''), undefined);
});

test('heart-beats: the larger of what one side offers and the other wants; 0 on either side means none', (t) => {
  const ours = { sendMs: 25_000, expectMs: 25_000 };
  t.deepEqual(negotiateHeartBeats('10000,10000', ours), { sendEveryMs: 25_000, expectEveryMs: 25_000 });
  t.deepEqual(negotiateHeartBeats('60000,40000', ours), { sendEveryMs: 40_000, expectEveryMs: 60_000 });
  t.deepEqual(negotiateHeartBeats('0,10000', ours), { sendEveryMs: 25_000, expectEveryMs: 0 });
  t.deepEqual(negotiateHeartBeats('10000,0', ours), { sendEveryMs: 0, expectEveryMs: 25_000 });
  t.deepEqual(negotiateHeartBeats(undefined, ours), { sendEveryMs: 0, expectEveryMs: 0 });
  t.deepEqual(negotiateHeartBeats('1,1', { sendMs: 0, expectMs: 0 }), { sendEveryMs: 0, expectEveryMs: 0 });
  for (const bad of ['', '10', 'a,b', '-1,5', '1,2,3', '1.5,2']) t.is(negotiateHeartBeats(bad, ours), undefined, bad);
});
