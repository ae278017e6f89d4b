// The tunnel streams a node carries (shared/tunnel-ledger.ts): per-address shares count IPv6 by /64, at edges and at
// cores alike, and give their place back when a stream closes.

import test from 'ava';
import { TunnelLedger } from '../shared/tunnel-ledger.js';

const quietMetrics = { streamsChanged() {}, carried() {}, refused() {}, creditWait() {} };

test('streams per address count IPv6 addresses by their /64, and a closed stream frees its place', (t) => {
  const ledger = new TunnelLedger({
    tunnels: [{ name: 'pg', connect: { host: '127.0.0.1', port: 5432 } }],
    logger: { info() {} },
    metrics: quietMetrics,
    maxStreams: 100,
    maxStreamsPerAddress: 1,
  });
  const first = ledger.opened({
    tunnel: 'pg',
    stream: 1,
    entry: 'tcp 127.0.0.1:15432',
    address: '2001:db8:1:2::10',
    readsClient: true,
    abort() {},
  });
  t.is(ledger.refusal('pg', '2001:db8:1:2:ffff::1'), 'address_limit', 'the same /64');
  t.is(ledger.refusal('pg', '2001:db8:1:3::10'), undefined, 'another /64');
  t.is(ledger.refusal('pg', '192.0.2.7'), undefined);
  first.closed({ reset: undefined, bytesRead: 0, bytesWritten: 0 });
  t.is(ledger.refusal('pg', '2001:db8:1:2:ffff::1'), undefined);
});
