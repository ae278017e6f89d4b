// Tests of reconnect delays (shared/backoff.ts): jittered in [cap/2, cap], cap doubling from baseMs up to maxMs.

import test from 'ava';
import fc from 'fast-check';
import { backoffDelay } from '../shared/backoff.js';

const low = (): number => 0;
const high = (): number => 1 - Number.EPSILON;

test('the cap doubles per attempt and saturates at maxMs', (t) => {
  const options = { baseMs: 100, maxMs: 5000 };
  const caps = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000];
  caps.forEach((cap, i) => {
    const attempt = i + 1;
    t.is(backoffDelay(attempt, { ...options, random: high }), cap, `attempt ${attempt} upper bound`);
    t.is(backoffDelay(attempt, { ...options, random: low }), cap / 2, `attempt ${attempt} lower bound`);
  });
  t.is(backoffDelay(1000, { ...options, random: high }), 5000);
  t.is(backoffDelay(Number.MAX_SAFE_INTEGER, { ...options, random: high }), 5000);
});

test('uses the injected random: the delay moves linearly between cap/2 and cap', (t) => {
  const options = { baseMs: 1000, maxMs: 60_000 };
  t.is(backoffDelay(1, { ...options, random: () => 0.5 }), 750);
  t.is(backoffDelay(2, { ...options, random: () => 0.25 }), 1250);
  t.is(backoffDelay(3, { ...options, random: () => 0.9 }), 3800);
  let calls = 0;
  backoffDelay(4, {
    ...options,
    random: () => {
      calls++;
      return 0.1;
    },
  });
  t.is(calls, 1);
});

test('attempts below 1 count as the first retry', (t) => {
  const options = { baseMs: 100, maxMs: 5000, random: high };
  t.is(backoffDelay(0, options), 100);
  t.is(backoffDelay(-5, options), 100);
});

test('without an injected random it still stays within bounds', (t) => {
  for (let i = 0; i < 200; i++) {
    const delay = backoffDelay(3, { baseMs: 100, maxMs: 5000 });
    t.true(delay >= 200 && delay <= 400, String(delay));
  }
});

test('a huge base or a zero base stays within [0, maxMs]', (t) => {
  t.is(backoffDelay(1, { baseMs: 1e12, maxMs: 30_000, random: high }), 30_000);
  t.is(backoffDelay(50, { baseMs: 0, maxMs: 30_000, random: high }), 0);
});

test('property: for attempts 1..100, the delay is a finite number in [cap/2, cap] and never above maxMs', (t) => {
  const options = fc.record({
    baseMs: fc.integer({ min: 0, max: 10_000 }),
    maxMs: fc.integer({ min: 0, max: 600_000 }),
    seedValue: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), options, (attempt, { baseMs, maxMs, seedValue }) => {
      const delay = backoffDelay(attempt, { baseMs, maxMs, random: () => seedValue });
      const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
      return Number.isFinite(delay) && delay >= 0 && delay <= maxMs && delay >= cap / 2 && delay <= cap;
    }),
    { seed: 42, numRuns: 10_000 },
  );
  t.pass();
});

test('property: the upper bound never decreases with the attempt number', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 600_000 }), (baseMs, maxMs) => {
      let previous = 0;
      for (let attempt = 1; attempt <= 100; attempt++) {
        const delay = backoffDelay(attempt, { baseMs, maxMs, random: high });
        if (delay < previous) return false;
        previous = delay;
      }
      return previous === Math.min(maxMs, baseMs * 2 ** 30);
    }),
    { seed: 42, numRuns: 500 },
  );
  t.pass();
});
