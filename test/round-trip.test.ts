// The uplink's round-trip time from its pings (shared/round-trip.ts): stamps that come back are samples, smoothed;
// anything else a peer echoes is ignored.

import test from 'ava';
import { RoundTrip } from '../shared/round-trip.js';

test('a stamp that comes back is a sample; later samples count for an eighth', (t) => {
  const roundTrip = new RoundTrip();
  t.is(roundTrip.ms, undefined, 'unknown until a pong');
  const stamp = roundTrip.stamp();
  stamp.writeDoubleBE(performance.now() - 80);
  roundTrip.answered(stamp);
  t.true(roundTrip.ms! >= 80 && roundTrip.ms! < 1000, String(roundTrip.ms));
  const first = roundTrip.ms!;
  const quick = roundTrip.stamp();
  roundTrip.answered(quick);
  t.true(roundTrip.ms! < first && roundTrip.ms! > first * 0.8, String(roundTrip.ms));
});

test('payloads that are no stamp of ours are ignored: empty, short, from the future, not a number', (t) => {
  const roundTrip = new RoundTrip();
  const future = Buffer.alloc(8);
  future.writeDoubleBE(performance.now() + 10_000);
  const notANumber = Buffer.alloc(8);
  notANumber.writeDoubleBE(Number.NaN);
  for (const payload of [Buffer.alloc(0), Buffer.from('abc'), future, notANumber]) roundTrip.answered(payload);
  t.is(roundTrip.ms, undefined);
});
