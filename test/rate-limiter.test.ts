// The per-session token bucket (edge/rate-limiter.ts) on an injected clock: a burst, then the rate; refusals, then a
// cut-off for a client that keeps sending while refused; and a charged replay as a debt that refuses but never cuts off.

import test from 'ava';
import { RateLimiter } from '../edge/rate-limiter.js';

function limiter(rate: number, burst: number) {
  const clock = { now: 0 };
  return { clock, bucket: new RateLimiter({ rate, burst, now: () => clock.now }) };
}

const takes = (bucket: RateLimiter, count: number): string[] => Array.from({ length: count }, () => bucket.take());

test('a burst at once, then the rate; refused beyond, cut off past a burst of debt', (t) => {
  const { clock, bucket } = limiter(10, 3);
  t.deepEqual(takes(bucket, 3), ['allow', 'allow', 'allow']);
  t.deepEqual(takes(bucket, 3), ['refuse', 'refuse', 'refuse']);
  t.is(bucket.take(), 'disconnect');
  clock.now += 1000;
  t.is(bucket.take(), 'allow', 'refilled at 10 a second, up to the burst');
});

test('a charge is a debt: refused until paid back at the rate, never cut off for it, cut off for sending on past a burst more', (t) => {
  const { clock, bucket } = limiter(10, 5);
  bucket.charge(50);
  t.deepEqual(takes(bucket, 5), ['refuse', 'refuse', 'refuse', 'refuse', 'refuse'], 'deep in debt, but not cut off');
  t.is(bucket.take(), 'disconnect', 'a burst of sends while refused is still abuse');
  const { clock: later, bucket: patient } = limiter(10, 5);
  patient.charge(50);
  later.now += 4000;
  t.is(patient.take(), 'refuse', 'after 4 s, 40 of 45 tokens of debt are paid back');
  later.now += 1100;
  t.deepEqual(takes(patient, 5), ['allow', 'allow', 'allow', 'allow', 'allow'], 'paid back, and refilled to the burst');
  t.deepEqual(
    takes(patient, 6),
    ['refuse', 'refuse', 'refuse', 'refuse', 'refuse', 'disconnect'],
    'the cut-off is back at a burst below zero',
  );
  t.is(clock.now, 0);
});
