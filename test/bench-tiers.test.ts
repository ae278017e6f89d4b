// S9's report: the tiers rows become their tables, with copies per message, the added latency per hop, the workers'
// steps and spread, and a sizing table computed from the run's own figures.

import test from 'ava';
import { renderReport, type BenchResults } from '../bench/report.js';

test('the tiers rows become the S9 tables', (t) => {
  const results: BenchResults = { idle: [], fanout: [], latency: [], wan: [], churn: [], engine: [], tunnel: [] };
  const wan = { kind: 'wan', edges: 3, subscribers: 900, payloadBytes: 100, copyBytes: 116 } as const;
  const hop = { kind: 'hop', subscribers: 1000, messagesPerSecond: 200, stepMs: 3000, achieved: 200_000 } as const;
  const step = { kind: 'workers', subscribers: 10_000, rate: 100_000, stepMs: 3000, p50Ms: 50, p99Ms: 100 } as const;
  results.tiers = [
    { ...wan, hub: false, bytesPerMessage: 348, framesPerMessage: 3 },
    { ...wan, hub: true, bytesPerMessage: 116, framesPerMessage: 1 },
    ...[0, 1, 2].flatMap((round) => [0, 1, 2].map((hubs) => ({ ...hop, round, hubs, p50Ms: 3 + hubs / 2, p99Ms: 9 }))),
    {
      ...step,
      workers: 1,
      achieved: 100_000,
      edgeCores: 0.5,
      primaryCores: 0.5,
      primaryIdleCores: 0.01,
      coreCores: 0.01,
      messagesPerSecond: 10,
    },
    {
      ...step,
      workers: 2,
      achieved: 99_000,
      edgeCores: 0.6,
      primaryCores: 0.004,
      primaryIdleCores: 0.001,
      coreCores: 0.01,
      messagesPerSecond: 10,
    },
    {
      kind: 'primary',
      workers: 2,
      messages: 5000,
      workersReached: 2,
      primaryMicrosPerMessage: 30,
      workersMicrosPerMessage: 60,
    },
    { kind: 'spread', policy: 'rr', perWorker: [5000, 5005] },
    { kind: 'spread', policy: 'none', perWorker: [7000, 3005] },
    { kind: 'machine', loadBefore: 1, loadAfter: 2 },
  ];
  const { markdown } = renderReport(results, {
    machine: { cpus: 2, model: 'test', memoryGiB: 1, node: 'v20' },
    command: 'relaymesh bench tiers',
    date: '2026-01-01T00:00:00.000Z',
    quick: false,
  });
  t.regex(markdown, /\| 3 edges on the core \| 900 \| 100 \| 348 \| 3\.00 \| 3\.00 \| 1\.00× \|/);
  t.regex(markdown, /\| 3 edges behind a hub \| 900 \| 100 \| 116 \| 1\.00 \| 1\.00 \| 0\.33× \|/);
  t.regex(
    markdown,
    /\| edge → hub → hub → core \| 200 \| 200,000 \| 4\.00 \| 4\.00–4\.00 \| 9\.00 \| 0\.50 \| 0\.00 \|/,
  );
  t.regex(markdown, /\| 2 \| 100,000 \| 99,000 \| 50\.00 \| 100\.00 \| 0\.60 \| 0\.00 \| 0\.01 \|/);
  t.regex(markdown, /\| 2 \| 5,000 \| 2 \| 30\.0 \| 60\.0 \| 90\.0 \|/);
  t.regex(markdown, /\| none \| 10,005 \| 7,000 \| 3,005 \| 70\.0 % \|/);
  // 5 µs per delivery: 3 workers carry 600,000/s; the primary, 30 µs (burst) and 300 µs (steps) × (1 + 3) ÷ 3.
  t.regex(markdown, /\| 4 \| 3 \| 30,000–60,000 \| 1 decode \+ 3 frames \| 600,000–600,000 \| 4–40 % of a core \|/);
});
