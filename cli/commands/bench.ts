// `relaymesh bench`: the fan-out benchmark, relaymesh against a naive `ws` broadcast server.

import type { CommandModule } from 'yargs';
import { runBench } from '../../bench/run.js';

interface BenchArgs {
  subscribers: number[];
  messages: number;
  'in-flight': number[];
  size: number;
  rounds: number;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'Run the fan-out benchmark (server CPU per delivered message, deliveries per second)',
  builder: (y) =>
    y.option('subscribers', { type: 'number', array: true, default: [1000, 5000], describe: 'subscriber counts to run' })
      .option('messages', { type: 'number', default: 200, describe: 'messages published per run' })
      .option('in-flight', { type: 'number', array: true, default: [1, 4, 16], describe: 'messages in flight' })
      .option('size', { type: 'number', default: 100, describe: 'payload bytes' })
      .option('rounds', { type: 'number', default: 3, describe: 'rounds per scenario (candidates alternate)' }) as never,
  handler: async (args) => {
    await runBench({ subscribers: args.subscribers, messages: args.messages, inFlight: args['in-flight'], payloadBytes: args.size, rounds: args.rounds });
    process.exit(0);
  },
};
