// `relaymesh bench [fanout]`: the fan-out benchmark, relaymesh against a naive `ws` broadcast server.
// `relaymesh bench chaos`: steady publishing while the uplinks are cut or black-holed (bench/chaos.ts).

import type { CommandModule } from 'yargs';
import { chaosClean, formatChaosTable, runChaos, type ChaosMode, type ChaosReport } from '../../bench/chaos.js';
import { runBench } from '../../bench/run.js';

interface BenchArgs {
  scenario: 'fanout' | 'chaos';
  subscribers: number[];
  messages: number | undefined;
  'in-flight': number[];
  size: number;
  rounds: number;
  mode: ChaosMode | 'both';
  cuts: number;
  clients: number;
  rate: number;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench [scenario]',
  describe: 'Run a benchmark: fanout (default; server CPU per delivered message) or chaos (uplink faults under steady publishing)',
  builder: (y) =>
    y.positional('scenario', { type: 'string', choices: ['fanout', 'chaos'], default: 'fanout', describe: 'which benchmark' })
      .option('subscribers', { type: 'number', array: true, default: [1000, 5000], describe: 'fanout: subscriber counts to run' })
      .option('messages', { type: 'number', describe: 'messages published per run (default: fanout 200, chaos 2000)' })
      .option('in-flight', { type: 'number', array: true, default: [1, 4, 16], describe: 'fanout: messages in flight' })
      .option('size', { type: 'number', default: 100, describe: 'fanout: payload bytes' })
      .option('rounds', { type: 'number', default: 3, describe: 'fanout: rounds per scenario (candidates alternate)' })
      .option('mode', { type: 'string', choices: ['cut', 'blackhole', 'both'], default: 'both', describe: 'chaos: how the uplinks fail' })
      .option('cuts', { type: 'number', default: 5, describe: 'chaos: faults per uplink' })
      .option('clients', { type: 'number', default: 50, describe: 'chaos: clients per edge' })
      .option('rate', { type: 'number', default: 200, describe: 'chaos: publishes per second' }) as never,
  handler: async (args) => {
    if (args.scenario === 'chaos') {
      const modes: ChaosMode[] = args.mode === 'both' ? ['cut', 'blackhole'] : [args.mode];
      const reports: ChaosReport[] = [];
      for (const mode of modes) {
        process.stderr.write(`chaos ${mode}: 2 edges × ${args.clients} clients, ${args.messages ?? 2000} messages at ${args.rate}/s, ${args.cuts} faults per uplink\n`);
        reports.push(await runChaos({
          mode, clientsPerEdge: args.clients, messages: args.messages ?? 2000, cuts: args.cuts, rateHz: args.rate,
          log: (line) => process.stderr.write(`${line}\n`),
        }));
      }
      process.stdout.write(formatChaosTable(reports));
      for (const line of reports.flatMap((report) => report.errorsLogged).slice(0, 10)) process.stdout.write(`logged: ${line}\n`);
      process.exit(reports.every(chaosClean) ? 0 : 1);
    }
    await runBench({ subscribers: args.subscribers, messages: args.messages ?? 200, inFlight: args['in-flight'], payloadBytes: args.size, rounds: args.rounds });
    process.exit(0);
  },
};
