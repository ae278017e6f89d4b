// The attack run (`relaymesh bench attack`): a core and an edge with default limits, each in a process of its own,
// a bystander publishing and subscribing throughout, and per phase one attack from outside, in a third process;
// measures what each attack costs the bystander and the nodes' memory.

import { setTimeout as sleep } from 'node:timers/promises';
import { AttackSocket } from './attack-socket.js';
import { Bystander, type BystanderPhase } from './attack-bystander.js';
import { attackNames, httpOf, type AttackName, type AttackerOptions } from './attack-context.js';
import type { AttackCounts } from './attack-counts.js';
import { longTopic } from './attack-fill.js';
import { closeHttp, publish } from './attack-http.js';
import { NodeMonitor, type NodePeaks } from './attack-monitor.js';
import type { AttackNodeStats } from './attack-node.js';
import { replayTopic } from './attack-replay.js';
import type { AttackPhaseReport, AttackReport, MemoryComposition } from './attack-report.js';
import { forkBench, type BenchChild } from './child.js';

export interface AttackOptions {
  /** Length of each phase (the quiet gap after it is extra). */
  seconds: number;
  /** The attacks to run after the baseline, in this order; default all. */
  attacks?: readonly AttackName[];
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

type PhaseName = 'baseline' | AttackName;

/**
 * After each phase, the mesh gets this long to recover; it still counts as the phase (its aftermath). Then each node
 * collects its garbage, which also gives the next phase a clean start.
 */
const quietGapMs = 3000;
const history = { messages: 200, bytes: 60 * 1024, perRequest: 15 };
/** The address that checks, at the end of topic-filling (which attacks from 127.0.0.2), that the edge still takes others' subscriptions. */
const otherAddress = '127.0.0.3';
const otherTopics = 10;
const mib = 1024 * 1024;

interface Mesh {
  core: BenchChild;
  edge: BenchChild;
  coreUrl: string;
  edgeUrl: string;
  monitor: NodeMonitor;
  bystander: Bystander;
}

export async function runAttack(options: AttackOptions): Promise<AttackReport> {
  if (!(options.seconds > 0)) throw new RangeError('attack: need seconds > 0');
  const started = performance.now();
  const children: BenchChild[] = [];
  const fork = (script: string, args: string[], execArgv: string[] = []): BenchChild => {
    const child = forkBench(script, args, execArgv);
    children.push(child);
    return child;
  };
  try {
    const core = fork('./attack-node.ts', ['core'], ['--expose-gc']);
    const coreUrl = await core.next<string>('url', 60_000);
    const edge = fork('./attack-node.ts', ['edge', coreUrl], ['--expose-gc']);
    const edgeUrl = await edge.next<string>('url', 60_000);
    const monitor = new NodeMonitor(core, edge);
    const bystander = await Bystander.start(coreUrl, edgeUrl);
    const mesh: Mesh = { core, edge, coreUrl, edgeUrl, monitor, bystander };
    try {
      const runs: PhaseRun[] = [];
      for (const name of ['baseline', ...(options.attacks ?? attackNames)] as const) {
        options.log?.(`attack: ${name} (${options.seconds} s + ${quietGapMs / 1000} s quiet)`);
        runs.push(await runPhase(mesh, name, options, fork));
      }
      await bystander.stop();
      await bystander.settle(5000);
      return {
        seconds: options.seconds,
        durationMs: performance.now() - started,
        phases: report(runs, bystander.phases),
      };
    } finally {
      bystander.close();
      await monitor.stop();
    }
  } finally {
    for (const child of children) child.stop();
    closeHttp();
  }
}

interface PhaseRun {
  name: PhaseName;
  /** From the phase's start to its last sample, ms. */
  durationMs: number;
  before: { core: AttackNodeStats; edge: AttackNodeStats };
  after: { core: AttackNodeStats; edge: AttackNodeStats };
  peaks: NodePeaks;
  /** After the quiet gap, garbage collected: what each node still held. */
  collected: { core: AttackNodeStats; edge: AttackNodeStats };
  attack: AttackCounts;
  otherAddress?: AttackPhaseReport['otherAddress'];
}

async function runPhase(
  mesh: Mesh,
  name: PhaseName,
  options: AttackOptions,
  fork: (script: string, args: string[]) => BenchChild,
): Promise<PhaseRun> {
  // The attacker process loads before the phase begins: compiling it is not part of the attack.
  let attacker: BenchChild | undefined;
  if (name !== 'baseline') {
    const attackerOptions: AttackerOptions = {
      attack: name,
      coreUrl: mesh.coreUrl,
      edgeUrl: mesh.edgeUrl,
      maxMs: (options.seconds + 60) * 1000,
    };
    attacker = fork('./attack-clients.ts', [JSON.stringify(attackerOptions)]);
    await attacker.next('ready', 60_000);
  }
  const before = await mesh.monitor.sample();
  const startedAt = performance.now();
  mesh.monitor.takePeaks();
  mesh.bystander.beginPhase(name);
  const epoch = name === 'replay-amplification' ? await seedHistory(mesh.coreUrl) : '';
  if (attacker) {
    const started = attacker.next('started', 60_000);
    attacker.process.send(`go ${epoch}`);
    await started;
  }
  await sleep(options.seconds * 1000);
  const checked = name === 'topic-filling' ? await checkOtherAddress(mesh.edgeUrl) : undefined;
  let attack: AttackCounts = {};
  if (attacker) {
    attack = await attacker.ask<AttackCounts>('stop', 'done');
    attacker.stop();
  }
  await sleep(quietGapMs);
  const after = await mesh.monitor.sample();
  const durationMs = performance.now() - startedAt;
  const peaks = mesh.monitor.takePeaks();
  const [core, edge] = await Promise.all([
    mesh.core.ask<AttackNodeStats>('collect', 'collected'),
    mesh.edge.ask<AttackNodeStats>('collect', 'collected'),
  ]);
  return {
    name,
    durationMs,
    before,
    after,
    peaks,
    collected: { core, edge },
    attack,
    ...(checked ? { otherAddress: checked } : {}),
  };
}

/** The history the replay attackers ask for: 200 messages of 60 KiB on one topic, in batches under the 1 MiB body limit. */
async function seedHistory(coreUrl: string): Promise<string> {
  const data = 'r'.repeat(history.bytes);
  let epoch = '';
  for (let sent = 0; sent < history.messages; sent += history.perRequest) {
    const items = Array.from({ length: Math.min(history.perRequest, history.messages - sent) }, () => ({
      topic: replayTopic,
      data,
    }));
    const answer = await publish(httpOf(coreUrl), items);
    if (answer.status !== 200)
      throw new Error(`attack: seeding ${replayTopic} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    epoch = (JSON.parse(answer.text) as Array<{ epoch: string }>)[0]!.epoch;
  }
  return epoch;
}

/** While the topic-filling attack still holds its topics: can a client from another address subscribe to new ones? */
async function checkOtherAddress(edgeUrl: string): Promise<NonNullable<AttackPhaseReport['otherAddress']>> {
  const refusals: Record<string, number> = {};
  const refused = (reason: string, n = 1): void => void (refusals[reason] = (refusals[reason] ?? 0) + n);
  let subscribed = 0;
  let socket: AttackSocket | undefined;
  try {
    socket = await AttackSocket.open({ url: edgeUrl, localAddress: otherAddress });
    for (let i = 0; i < otherTopics; i++) {
      const answer = await socket.request({
        op: 'sub',
        topic: longTopic(`check.${otherAddress.replaceAll('.', '-')}`, i),
      });
      if (answer.op === 'subok') subscribed++;
      else refused(answer.op === 'error' ? answer.code : answer.op);
    }
  } catch (error) {
    refused(
      (error as Error).message,
      otherTopics - subscribed - Object.values(refusals).reduce((sum, n) => sum + n, 0),
    );
  } finally {
    socket?.close();
  }
  return { subscribed, tried: otherTopics, refusals };
}

function report(runs: PhaseRun[], phases: BystanderPhase[]): AttackPhaseReport[] {
  const baseline = runs[0]!.peaks;
  return runs.map((run, i) => {
    const phase = phases[i]!;
    let missed = 0;
    for (const offset of phase.acked) if (!phase.received.has(offset)) missed++;
    const percentile = (p: number): number =>
      phase.histogram.totalCount === 0 ? NaN : phase.histogram.getValueAtPercentile(p) / 1000;
    return {
      name: run.name,
      p50Ms: percentile(50),
      p99Ms: percentile(99),
      acked: phase.acked.size,
      received: phase.acked.size - missed,
      missed,
      publishFailures: phase.publishFailures,
      bystanderCuts: phase.cuts,
      coreRssMiB: run.peaks.coreRss / mib,
      edgeRssMiB: run.peaks.edgeRss / mib,
      coreRssIncreaseMiB: (run.peaks.coreRss - baseline.coreRss) / mib,
      edgeRssIncreaseMiB: (run.peaks.edgeRss - baseline.edgeRss) / mib,
      coreRssGrowthMiB: (run.peaks.coreRss - run.before.core.rss) / mib,
      edgeRssGrowthMiB: (run.peaks.edgeRss - run.before.edge.rss) / mib,
      coreCpuPercent: ((run.after.core.cpuMicros - run.before.core.cpuMicros) / 1000 / run.durationMs) * 100,
      edgeCpuPercent: ((run.after.edge.cpuMicros - run.before.edge.cpuMicros) / 1000 / run.durationMs) * 100,
      atPeak: { core: composition(run.peaks.coreAtPeak), edge: composition(run.peaks.edgeAtPeak) },
      held: { core: composition(run.collected.core), edge: composition(run.collected.edge) },
      edgeSessionsMax: run.peaks.edgeSessions,
      slowConsumersCut: (run.after.edge.slowConsumers ?? 0) - (run.before.edge.slowConsumers ?? 0),
      reconnects: (run.after.edge.reconnects ?? 0) - (run.before.edge.reconnects ?? 0),
      coreUplinksMax: run.peaks.coreUplinks,
      ...(run.otherAddress ? { otherAddress: run.otherAddress } : {}),
      attack: run.attack,
      warnings: {
        core: grown(run.before.core.warnings, run.after.core.warnings),
        edge: grown(run.before.edge.warnings, run.after.edge.warnings),
      },
    };
  });
}

function composition(stats: AttackNodeStats | undefined): MemoryComposition {
  return {
    rssMiB: (stats?.rss ?? NaN) / mib,
    heapMiB: (stats?.heapUsed ?? NaN) / mib,
    buffersMiB: (stats?.arrayBuffers ?? NaN) / mib,
  };
}

/** Counts that grew between two snapshots, by how much. */
function grown(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) if (n > (before[name] ?? 0)) delta[name] = n - (before[name] ?? 0);
  return delta;
}
