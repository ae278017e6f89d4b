// The tunnel benchmark's own parts: the userspace WAN delays each way and charges a new connection its handshake, and
// a report of some scenarios replaces their sections of BENCHMARKS.md and keeps the others.

import test from 'ava';
import { connect } from 'node:net';
import { mergeSections } from '../bench/markdown-sections.js';
import { renderReport, type BenchResults } from '../bench/report.js';
import { startWanLink } from '../bench/wan-link.js';
import { echoService } from './helpers/tcp-services.js';
import { within } from './helpers/within.js';

test('the WAN link delays each way and holds a new connection’s first bytes one round trip more', async (t) => {
  const service = await echoService(t);
  const oneWayMs = 40;
  const link = await startWanLink(service.address, oneWayMs);
  t.teardown(() => link.close());
  const started = performance.now();
  const socket = connect({ ...link.address, allowHalfOpen: true });
  t.teardown(() => socket.destroy());
  const echo = (): Promise<number> =>
    within(new Promise<number>((resolve) => socket.once('data', () => resolve(performance.now()))), 'the echo');
  socket.write('first');
  // Handshake (a round trip), then there and back: three one-way delays at least.
  t.true((await echo()) - started >= 3 * oneWayMs - 1);
  const again = performance.now();
  socket.write('second');
  const answered = await echo();
  t.true(answered - again >= 2 * oneWayMs - 1);
  // Only a lower bound: the machine may be slow, never early.
});

test('a report of some scenarios replaces their sections and keeps the others in place', (t) => {
  const existing = [
    '# Benchmarks\n\nold head\n',
    '## S1 idle footprint\n\nold S1\n',
    '## S6 engines\n\nold S6\n',
    '## S7 tunnels\n\nold S7\n',
  ].join('\n');
  const fresh =
    '# Benchmarks\n\nnew head\n\n## S7 tunnels\n\nnew S7\n\n## S7 tunnels: CPU per MiB carried\n\nnew cpu\n';
  t.is(
    mergeSections(existing, fresh),
    '# Benchmarks\n\nnew head\n\n## S1 idle footprint\n\nold S1\n\n## S6 engines\n\nold S6\n\n## S7 tunnels\n\nnew S7\n\n## S7 tunnels: CPU per MiB carried\n\nnew cpu\n',
  );
  t.is(mergeSections(fresh, fresh), fresh);
});

test('the tunnel rows become the S7 tables, with ratios, verdicts and skipped rows', (t) => {
  const results: BenchResults = { idle: [], fanout: [], latency: [], wan: [], churn: [], engine: [], tunnel: [] };
  results.tunnel.push(
    {
      kind: 'target',
      what: 'one stream client→service',
      unit: 'MB/s',
      value: 150,
      compared: [{ name: 'direct TCP', value: 1000 }],
      target: '≥ 100 MB/s',
      met: true,
    },
    {
      kind: 'target',
      what: 'pgbench -S',
      unit: 'tps',
      value: undefined,
      compared: [],
      target: 'report',
      met: undefined,
      note: 'skipped: no PostgreSQL',
    },
    {
      kind: 'cpu',
      path: 'relaymesh',
      direction: 'client→service',
      mbPerSecond: 150,
      entry: 5000,
      centre: 4000,
      service: 900,
      client: 300,
    },
  );
  const { markdown } = renderReport(results, {
    machine: { cpus: 2, model: 'test', memoryGiB: 1, node: 'v20' },
    command: 'relaymesh bench tunnel',
    date: '2026-01-01T00:00:00.000Z',
    quick: false,
  });
  t.regex(markdown, /## S7 tunnels\n/);
  t.regex(
    markdown,
    /\| one stream client→service \| 150 MB\/s \| direct TCP 1,000 MB\/s \(0\.15×\) \| ≥ 100 MB\/s \| yes \|/,
  );
  t.regex(markdown, /\| pgbench -S \(skipped: no PostgreSQL\) \| – \| – \| report \| – \|/);
  t.regex(markdown, /\| relaymesh \| client→service \| 150 \| 5,000 \| 4,000 \| 900 \| 300 \|/);
});
