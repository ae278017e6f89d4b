// `npm run bench` / `relaymesh bench`: runs the fan-out scenarios, alternating candidates over several rounds,
// prints a table of medians and ratios, and writes the raw results to bench/results/fanout.json.

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { runFanout, type FanoutResult, type FanoutScenario } from './fanout.js';
import type { CandidateKind } from './server-process.js';

export interface BenchOptions {
  subscribers: number[];
  messages: number;
  inFlight: number[];
  payloadBytes: number;
  rounds: number;
}

const candidates: CandidateKind[] = ['naive-ws', 'relaymesh'];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function runBench(options: BenchOptions): Promise<void> {
  const results: FanoutResult[] = [];
  const rows: string[][] = [['scenario', 'candidate', 'CPU µs/delivery', 'deliveries/s', 'server RSS MiB', 'CPU vs naive']];
  for (const subscribers of options.subscribers) {
    for (const inFlight of options.inFlight) {
      const scenario: FanoutScenario = { subscribers, messages: options.messages, inFlight, payloadBytes: options.payloadBytes };
      const byCandidate = new Map<CandidateKind, FanoutResult[]>(candidates.map((candidate) => [candidate, []]));
      for (let round = 0; round < options.rounds; round++) {
        for (const candidate of round % 2 ? [...candidates].reverse() : candidates) {
          const result = await runFanout(candidate, scenario);
          byCandidate.get(candidate)!.push(result);
          results.push(result);
          process.stderr.write(`  ${candidate} ${subscribers} subs, ${inFlight} in flight, round ${round + 1}: ${result.cpuMicrosPerDelivery.toFixed(2)} µs/delivery\n`);
        }
      }
      const naiveCpu = median(byCandidate.get('naive-ws')!.map((result) => result.cpuMicrosPerDelivery));
      for (const candidate of candidates) {
        const runs = byCandidate.get(candidate)!;
        const cpu = median(runs.map((result) => result.cpuMicrosPerDelivery));
        rows.push([
          `${subscribers} subs × ${options.messages} msgs, ${inFlight} in flight, ${options.payloadBytes} B`, candidate,
          cpu.toFixed(2), Math.round(median(runs.map((result) => result.deliveriesPerSecond))).toLocaleString('en'),
          median(runs.map((result) => result.serverRssMiB)).toFixed(0), `${(cpu / naiveCpu).toFixed(2)}×`,
        ]);
      }
    }
  }
  printTable(rows);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL('./results/fanout.json', import.meta.url);
  await writeFile(file, JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, options, results }, null, 2));
  process.stdout.write(`\nraw results: ${file.pathname}\n`);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}\n`);
}
