// `npm run bench` / `relaymesh bench`: the benchmark suite. Runs the scenarios (S1 idle footprint, S2 fan-out cost,
// S3 latency, S4 WAN savings, S5 churn, S6 engines, S7 tunnels, S8 presence and hooks, S9 tiers) for each candidate
// in the same invocation (NATS, when nats-server is installed, in S2 and S3), alternating candidates over rounds,
// prints tables of medians and ratios, and writes bench/results/latest.json and BENCHMARKS.md.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { mergeSections } from './markdown-sections.js';
import { renderReport, type BenchResults, type Provenance } from './report.js';
import { runChurn } from './scenarios/churn.js';
import { runEngines } from './scenarios/engine.js';
import { runFanout, type FanoutCase } from './scenarios/fanout.js';
import { runIdle } from './scenarios/idle.js';
import { runLatency } from './scenarios/latency.js';
import { runPresence, type PresenceSizes } from './scenarios/presence.js';
import { runTiers, type TiersSizes } from './scenarios/tiers.js';
import { runTunnel } from './scenarios/tunnel.js';
import { runWan } from './scenarios/wan.js';
import { findNatsServer } from './nats-servers.js';
import { candidateKinds, nodeCandidateKinds, type CandidateKind } from './wires.js';

import { scenarioNames, type ScenarioName } from '../cli/bench-scenarios.js';

export interface BenchOptions {
  scenarios: readonly ScenarioName[];
  /** Small sizes, one round: a smoke run in about a minute. */
  quick: boolean;
  rounds: number;
  /** The command line, for the report. */
  command: string;
}

function sizes(quick: boolean) {
  return quick
    ? {
        idle: [1000],
        fanout: [1000],
        fanoutCases: [{ payloadBytes: 100, inFlight: 4 }],
        latencySubscribers: 1000,
        rates: [20_000, 80_000],
        wanSubscribers: 500,
        churn: { stable: 500, churning: 200, perSecond: 100, durationMs: 3000 },
        engine: { inFlight: [1, 64], messages: 5000 },
        tunnel: {
          transferBytes: 64 * 2 ** 20,
          wanBytes: 32 * 2 ** 20,
          rounds: 1,
          idleStreams: 500,
          activeStreams: 16,
          phaseMs: 3000,
          opens: 5,
          pgSeconds: 3,
          pgClients: 4,
        },
        // Fan-out subscribers stay over the 1,000-member event cap (PresenceSizes says why).
        presence: {
          fanout: { subscribers: 1500, watchers: 10, cases: [{ payloadBytes: 100, inFlight: 4 }], rounds: 1 },
          churn: { members: 2000, smallMembers: 200, watchers: 10, churners: 50, durationMs: 3000, queries: 50 },
          hooks: { samples: 200, rounds: 1, processes: 2, concurrency: 16, durationMs: 2000 },
        } satisfies PresenceSizes,
        tiers: {
          wan: { subscribersPerEdge: 100, payloads: [100, 4096], messages: 100 },
          hops: { subscribers: 300, rates: [100], stepMs: 1500, rounds: 1 },
          workers: { subscribers: 2000, rates: [50_000], workers: [1, 2], stepMs: 2000, primaryMessages: 1000 },
          // The OS's spread takes a run of its own: left to the full run.
          spread: false,
        } satisfies TiersSizes,
      }
    : {
        idle: [1000, 5000, 10_000, 19_000],
        fanout: [1000, 5000, 10_000],
        fanoutCases: [100, 1024].flatMap((payloadBytes) => [1, 4, 16].map((inFlight) => ({ payloadBytes, inFlight }))),
        latencySubscribers: 10_000,
        rates: [25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000],
        wanSubscribers: 2000,
        churn: { stable: 2000, churning: 1000, perSecond: 500, durationMs: 10_000 },
        engine: { inFlight: [1, 16, 256], messages: 50_000 },
        tunnel: {
          transferBytes: 2 ** 30,
          wanBytes: 128 * 2 ** 20,
          rounds: 3,
          idleStreams: 1000,
          activeStreams: 64,
          phaseMs: 10_000,
          opens: 20,
          pgSeconds: 10,
          pgClients: 8,
        },
        presence: {
          fanout: {
            subscribers: 5000,
            watchers: 10,
            cases: [
              { payloadBytes: 100, inFlight: 1 },
              { payloadBytes: 100, inFlight: 16 },
            ],
            // Even: each variant goes first as often.
            rounds: 4,
          },
          churn: { members: 10_000, smallMembers: 500, watchers: 20, churners: 200, durationMs: 10_000, queries: 200 },
          // 32 connects in progress per address: under limits.maxPendingHookCallsPerAddress (64), so none is refused.
          hooks: { samples: 1000, rounds: 2, processes: 2, concurrency: 32, durationMs: 5000 },
        } satisfies PresenceSizes,
        tiers: {
          wan: { subscribersPerEdge: 300, payloads: [100, 4096], messages: 500 },
          // 3 rounds: each path comes first once. 20/s: the cost of a hop itself; 200/s: with the 2 cores busy.
          hops: { subscribers: 1000, rates: [20, 200], stepMs: 3000, rounds: 3 },
          workers: {
            subscribers: 10_000,
            rates: [50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000],
            workers: [1, 2],
            stepMs: 3000,
            primaryMessages: 5000,
          },
          spread: true,
        } satisfies TiersSizes,
      };
}

const progress = (line: string): void => void process.stderr.write(`${line}\n`);

/** The repository, whether this runs from bench/ (tsx) or compiled into dist/bench/ (`relaymesh bench`). */
const root = new URL(import.meta.url.endsWith('.js') ? '../../' : '../', import.meta.url);

export async function runBench(options: BenchOptions): Promise<void> {
  const size = sizes(options.quick);
  const rounds = options.quick ? 1 : options.rounds;
  const results: Required<BenchResults> = {
    idle: [],
    fanout: [],
    latency: [],
    wan: [],
    churn: [],
    engine: [],
    tunnel: [],
    presence: [],
    tiers: [],
  };
  const run = (name: ScenarioName): boolean => options.scenarios.includes(name);
  // NATS is an outside binary: without it, S2 and S3 run the others and its figures show as –.
  const withPeer = candidateKinds.filter((kind) => kind !== 'nats' || findNatsServer());
  if (withPeer.length < candidateKinds.length && (run('fanout') || run('latency')))
    progress('NATS skipped: nats-server is not installed (apt-get install nats-server); its figures show as –');
  // Candidates alternate from round to round, so drift on the machine does not favour one of them.
  const order = (round: number): readonly CandidateKind[] => (round % 2 ? [...withPeer].reverse() : withPeer);

  // First: it is short, and the one that needs something of the machine (redis-server), so it fails before the long
  // scenarios rather than after them, throwing their results away.
  if (run('engine'))
    results.engine.push(...(await runEngines(size.engine.inFlight, size.engine.messages, 100, progress)));
  if (run('idle')) {
    for (const clients of size.idle) {
      for (const kind of nodeCandidateKinds) {
        progress(`S1 idle: ${kind}, ${clients} clients`);
        results.idle.push(await runIdle(kind, clients));
      }
    }
  }
  if (run('fanout')) {
    for (const subscribers of size.fanout) {
      for (let round = 0; round < rounds; round++) {
        for (const kind of order(round)) {
          progress(`S2 fan-out: ${kind}, ${subscribers} subscribers, round ${round + 1}`);
          results.fanout.push(...(await runFanout(kind, subscribers, size.fanoutCases as FanoutCase[])));
        }
      }
    }
  }
  if (run('latency')) {
    for (const kind of withPeer) {
      progress(`S3 latency: ${kind}, ${size.latencySubscribers} subscribers`);
      results.latency.push(...(await runLatency(kind, size.latencySubscribers, size.rates, 100)));
    }
  }
  if (run('wan')) {
    for (const kind of nodeCandidateKinds) {
      progress(`S4 WAN: ${kind}, ${size.wanSubscribers} subscribers`);
      results.wan.push(await runWan(kind, size.wanSubscribers, 100));
    }
  }
  if (run('churn')) {
    for (const kind of nodeCandidateKinds) {
      const { stable, churning, perSecond, durationMs } = size.churn;
      progress(`S5 churn: ${kind}, ${stable} stable, ${churning} churning at ${perSecond}/s`);
      results.churn.push(await runChurn(kind, stable, churning, perSecond, durationMs, 50));
    }
  }
  if (run('tunnel')) results.tunnel.push(...(await runTunnel(size.tunnel, progress)));
  if (run('presence')) results.presence.push(...(await runPresence(size.presence, progress)));
  if (run('tiers')) results.tiers.push(...(await runTiers(size.tiers, progress)));

  const machine = {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  const context = { machine, command: options.command, date: new Date().toISOString(), quick: options.quick };
  process.stdout.write(renderReport(results, context).terminal);
  if (options.quick) return;
  // A run of some scenarios replaces those in the last results and keeps the others, so the report stays whole.
  const file = new URL('bench/results/latest.json', root);
  const previous = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as { results: BenchResults; provenance: Provenance },
    () => undefined,
  );
  const merged: BenchResults = { ...results };
  const provenance: Provenance = {};
  for (const name of scenarioNames) {
    if (run(name)) provenance[name] = { command: options.command, date: context.date };
    else if (previous?.results[name]?.length) {
      (merged[name] as unknown) = previous.results[name];
      provenance[name] = previous.provenance[name];
    }
  }
  await mkdir(new URL('bench/results/', root), { recursive: true });
  await writeFile(file, JSON.stringify({ machine, results: merged, provenance }, null, 2));
  const report = new URL('BENCHMARKS.md', root);
  const existing = await readFile(report, 'utf8').catch(() => '');
  await writeFile(report, mergeSections(existing, renderReport(merged, { ...context, provenance }).markdown));
  progress('\nraw results: bench/results/latest.json; report: BENCHMARKS.md');
}
