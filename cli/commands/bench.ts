// `relaymesh bench [scenario…]`: the benchmark suite against a naive `ws` server and Socket.IO (bench/run.ts),
// `relaymesh bench chaos`: steady publishing while the uplinks are cut or black-holed (bench/chaos.ts), or
// `relaymesh bench attack`: what outside attacks on a mesh with default limits cost a bystander (bench/attack.ts).

import type { CommandModule } from 'yargs';
import type { ChaosMode, ChaosReport } from '../../bench/chaos.js';
import { scenarioNames, type ScenarioName } from '../bench-scenarios.js';
import { fail } from '../exit.js';

/**
 * The suite is loaded only when asked for: it needs the repository's dev dependencies (Socket.IO, an HDR histogram),
 * which an installed package does not have.
 */
async function loadSuite() {
  try {
    const [attack, report, chaos, run] = await Promise.all([
      import('../../bench/attack.js'),
      import('../../bench/attack-report.js'),
      import('../../bench/chaos.js'),
      import('../../bench/run.js'),
    ]);
    return { ...attack, ...report, ...chaos, ...run };
  } catch (error) {
    // Only a missing module means an installed package without the suite; anything else is a real fault.
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return fail(
      `relaymesh bench: the benchmark suite runs from a clone of the repository, with its dev dependencies (npm install there, then npm run bench): ${(error as Error).message}`,
    );
  }
}

interface BenchArgs {
  scenarios: string[];
  quick: boolean;
  rounds: number;
  messages: number;
  mode: ChaosMode | 'both';
  cuts: number;
  clients: number;
  rate: number;
  seconds: number;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench [scenarios..]',
  describe: `Run benchmarks: ${scenarioNames.join(', ')} (default: all), or chaos (uplink faults under steady publishing), or attack (outside attacks against a bystander)`,
  builder: (y) =>
    y
      .positional('scenarios', {
        type: 'string',
        array: true,
        choices: [...scenarioNames, 'chaos', 'attack'],
        default: [...scenarioNames],
        describe: 'which scenarios',
      })
      .option('quick', { type: 'boolean', default: false, describe: 'small sizes and one round: a smoke run' })
      .option('rounds', { type: 'number', default: 2, describe: 'fan-out rounds per candidate (they alternate)' })
      .option('mode', {
        type: 'string',
        choices: ['cut', 'blackhole', 'both'],
        default: 'both',
        describe: 'chaos: how the uplinks fail',
      })
      .option('cuts', { type: 'number', default: 5, describe: 'chaos: faults per uplink' })
      .option('clients', { type: 'number', default: 50, describe: 'chaos: clients per edge' })
      .option('messages', { type: 'number', default: 2000, describe: 'chaos: messages published' })
      .option('rate', { type: 'number', default: 200, describe: 'chaos: publishes per second' })
      .option('seconds', { type: 'number', default: 10, describe: 'attack: length of each phase' }) as never,
  handler: async (args) => {
    const {
      runAttack,
      attackFailures,
      formatAttackTable,
      formatAttackVerdict,
      runChaos,
      chaosClean,
      formatChaosTable,
      runBench,
    } = await loadSuite();
    if (args.scenarios.includes('attack')) {
      // Like chaos, a pass/fail run of its own.
      if (args.scenarios.length > 1)
        fail('relaymesh bench: run attack on its own (relaymesh bench attack), not with other scenarios');
      if (!(args.seconds > 0)) fail('relaymesh bench attack: --seconds must be a number > 0');
      const report = await runAttack({ seconds: args.seconds, log: (line) => process.stderr.write(`${line}\n`) });
      process.stdout.write(formatAttackTable(report));
      process.stdout.write(formatAttackVerdict(report));
      process.exit(attackFailures(report).length === 0 ? 0 : 1);
    }
    if (args.scenarios.includes('chaos')) {
      // Chaos is a pass/fail run of its own, not a figure for BENCHMARKS.md: mixing it with scenarios would drop them.
      if (args.scenarios.length > 1)
        fail('relaymesh bench: run chaos on its own (relaymesh bench chaos), not with other scenarios');
      const modes: ChaosMode[] = args.mode === 'both' ? ['cut', 'blackhole'] : [args.mode];
      const reports: ChaosReport[] = [];
      for (const mode of modes) {
        process.stderr.write(
          `chaos ${mode}: 2 edges × ${args.clients} clients, ${args.messages} messages at ${args.rate}/s, ${args.cuts} faults per uplink\n`,
        );
        reports.push(
          await runChaos({
            mode,
            clientsPerEdge: args.clients,
            messages: args.messages,
            cuts: args.cuts,
            rateHz: args.rate,
            log: (line) => process.stderr.write(`${line}\n`),
          }),
        );
      }
      process.stdout.write(formatChaosTable(reports));
      for (const line of reports.flatMap((report) => report.errorsLogged).slice(0, 10))
        process.stdout.write(`logged: ${line}\n`);
      process.exit(reports.every(chaosClean) ? 0 : 1);
    }
    await runBench({
      scenarios: args.scenarios as ScenarioName[],
      quick: args.quick,
      rounds: args.rounds,
      command: `relaymesh bench ${process.argv.slice(3).join(' ')}`.trim(),
    });
    process.exit(0);
  },
};
