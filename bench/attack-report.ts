// What `relaymesh bench attack` reports per phase, the targets it checks, and the table it prints: the bystander's
// latency and losses, each node's peak memory against the quiet baseline, and what the attackers met.

import type { AttackCounts } from './attack-counts.js';

export interface AttackPhaseReport {
  name: string;
  /** Bystander publish→delivery latency, ms; NaN when nothing arrived. */
  p50Ms: number;
  p99Ms: number;
  /** Bystander messages acknowledged by the core, and of those, received by the client. */
  acked: number;
  received: number;
  /** Acknowledged but never delivered. */
  missed: number;
  /** Publishes that got no position (an HTTP error, a timeout), by reason. */
  publishFailures: Record<string, number>;
  bystanderCuts: number;
  /** Peak RSS during the phase, and its increase over the baseline phase's peak, in MiB. */
  coreRssMiB: number;
  edgeRssMiB: number;
  coreRssIncreaseMiB: number;
  edgeRssIncreaseMiB: number;
  /** Peak RSS above the RSS at the phase's start: what this phase itself added (earlier phases may have left memory behind). */
  coreRssGrowthMiB: number;
  edgeRssGrowthMiB: number;
  /** CPU each node used over the phase, in % of one core (a node's event loop runs on one). */
  coreCpuPercent: number;
  edgeCpuPercent: number;
  /** Each node when its RSS peaked (what V8 held: its heap, and Buffers outside it), and after the quiet gap once its garbage was collected. */
  atPeak: { core: MemoryComposition; edge: MemoryComposition };
  held: { core: MemoryComposition; edge: MemoryComposition };
  /** Most client sessions the edge held at once, and clients it cut as slow consumers (4508) during the phase. */
  edgeSessionsMax: number;
  slowConsumersCut: number;
  /** Reconnects of the real edge's uplink during the phase. */
  reconnects: number;
  /** Most uplinks the core held at once (the real edge plus fake ones). */
  coreUplinksMax: number;
  /** topic-filling: new topics a client from another address could still subscribe to. */
  otherAddress?: { subscribed: number; tried: number; refusals: Record<string, number> };
  /** What the attackers counted (answers, cuts, reconnects). */
  attack: AttackCounts;
  /** Warnings each node logged during the phase, by message. */
  warnings: { core: Record<string, number>; edge: Record<string, number> };
}

/** MiB. */
export interface MemoryComposition {
  rssMiB: number;
  heapMiB: number;
  buffersMiB: number;
}

export interface AttackReport {
  seconds: number;
  durationMs: number;
  phases: AttackPhaseReport[];
}

export const targets = {
  /** Peak RSS above the baseline's peak, per node. */
  rssIncreaseMiB: 512,
  bystanderP99Ms: 250,
};

/** Every target that did not hold, one line each; empty when the run passed. */
export function attackFailures(report: AttackReport): string[] {
  const failures: string[] = [];
  for (const phase of report.phases) {
    const at = (what: string): void => void failures.push(`${phase.name}: ${what}`);
    if (!(phase.coreRssIncreaseMiB < targets.rssIncreaseMiB))
      at(`core peak RSS ${mib(phase.coreRssIncreaseMiB)} MiB above baseline (target < ${targets.rssIncreaseMiB})`);
    if (!(phase.edgeRssIncreaseMiB < targets.rssIncreaseMiB))
      at(`edge peak RSS ${mib(phase.edgeRssIncreaseMiB)} MiB above baseline (target < ${targets.rssIncreaseMiB})`);
    if (!(phase.p99Ms < targets.bystanderP99Ms))
      at(`bystander p99 ${ms(phase.p99Ms)} ms (target < ${targets.bystanderP99Ms})`);
    if (phase.missed > 0) at(`bystander missed ${phase.missed} acknowledged message(s)`);
    const failed = total(phase.publishFailures);
    if (failed > 0) at(`${failed} bystander publish(es) failed (${entries(phase.publishFailures)})`);
    if (phase.reconnects > 0) at(`the edge's uplink reconnected ${phase.reconnects} time(s)`);
    if (phase.otherAddress && phase.otherAddress.subscribed < phase.otherAddress.tried) {
      at(
        `another address subscribed to ${phase.otherAddress.subscribed} of ${phase.otherAddress.tried} new topics (${entries(phase.otherAddress.refusals)})`,
      );
    }
  }
  return failures;
}

export function formatAttackTable(report: AttackReport): string {
  const rows = [
    [
      'phase',
      'bystander ms p50/p99',
      'received/acked',
      'missed',
      'pub failed',
      'bystander cuts',
      'core peak MiB (+base, +phase)',
      'edge peak MiB (+base, +phase)',
      'cpu % core/edge',
      'uplink reconnects',
      'core uplinks max',
      'other address subs',
    ],
  ];
  for (const phase of report.phases) {
    rows.push([
      phase.name,
      `${ms(phase.p50Ms)} / ${ms(phase.p99Ms)}`,
      `${phase.received}/${phase.acked}`,
      String(phase.missed),
      String(total(phase.publishFailures)),
      String(phase.bystanderCuts),
      `${mib(phase.coreRssMiB)} (${signed(phase.coreRssIncreaseMiB)}, ${signed(phase.coreRssGrowthMiB)})`,
      `${mib(phase.edgeRssMiB)} (${signed(phase.edgeRssIncreaseMiB)}, ${signed(phase.edgeRssGrowthMiB)})`,
      `${phase.coreCpuPercent.toFixed(0)} / ${phase.edgeCpuPercent.toFixed(0)}`,
      String(phase.reconnects),
      String(phase.coreUplinksMax),
      phase.otherAddress ? `${phase.otherAddress.subscribed}/${phase.otherAddress.tried}` : '-',
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const table = rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  const details = report.phases.flatMap((phase) => [
    `${phase.name} memory: at peak core ${memory(phase.atPeak.core)}, edge ${memory(phase.atPeak.edge)}; held after the phase (GC'd) core ${memory(phase.held.core)}, edge ${memory(phase.held.edge)}`,
    `${phase.name} edge: sessions max ${phase.edgeSessionsMax}, slow consumers cut ${phase.slowConsumersCut}`,
    ...(Object.keys(phase.attack).length > 0 ? [`${phase.name} attackers: ${entries(phase.attack)}`] : []),
    ...(Object.keys(phase.warnings.core).length > 0
      ? [`${phase.name} core logged: ${entries(phase.warnings.core)}`]
      : []),
    ...(Object.keys(phase.warnings.edge).length > 0
      ? [`${phase.name} edge logged: ${entries(phase.warnings.edge)}`]
      : []),
    ...(phase.otherAddress && total(phase.otherAddress.refusals) > 0
      ? [`${phase.name} other address refused: ${entries(phase.otherAddress.refusals)}`]
      : []),
  ]);
  return `${table}\n\n${details.join('\n')}\n`;
}

export function formatAttackVerdict(report: AttackReport): string {
  const failures = attackFailures(report);
  const seconds = (report.durationMs / 1000).toFixed(0);
  if (failures.length === 0)
    return `attack: PASS, every target held (${report.phases.length} phases of ${report.seconds} s, ${seconds} s in all)\n`;
  return `attack: FAIL, ${failures.length} target(s) missed: ${failures.join('; ')}\n`;
}

function memory(value: MemoryComposition): string {
  return `rss ${mib(value.rssMiB)} (heap ${mib(value.heapMiB)}, buffers ${mib(value.buffersMiB)}) MiB`;
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

function entries(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([name, n]) => `${name} ×${n}`)
    .join(', ');
}

function ms(value: number): string {
  return Number.isNaN(value) ? '-' : value < 10 ? value.toFixed(1) : value.toFixed(0);
}

function mib(value: number): string {
  return value.toFixed(0);
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(0)}`;
}
