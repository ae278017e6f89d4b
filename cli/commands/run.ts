// `relaymesh up`, `relaymesh core --id`, `relaymesh edge --id`: run the whole topology, or one node of it.

import type { CommandModule } from 'yargs';
import type { LogFormat } from '../logger.js';
import { runMesh } from '../mesh-runner.js';

interface RunArgs {
  topology: string;
  'log-level': string;
  'log-format': LogFormat;
  id?: string;
}

const topologyOption = { type: 'string', default: 'topology.json', describe: 'the topology file' } as const;

export const upCommand: CommandModule<object, RunArgs> = {
  command: 'up',
  describe: 'Run every node of the topology in this process',
  builder: (y) => y.option('topology', topologyOption) as never,
  handler: (args) =>
    runMesh({ topologyFile: args.topology, logLevel: args['log-level'], logFormat: args['log-format'] }),
};

function oneNode(role: 'core' | 'edge'): CommandModule<object, RunArgs> {
  return {
    command: role,
    describe: `Run one ${role} of the topology`,
    builder: (y) =>
      y
        .option('topology', topologyOption)
        .option('id', { type: 'string', demandOption: true, describe: `the ${role}'s id in the topology` }) as never,
    handler: (args) =>
      runMesh({
        topologyFile: args.topology,
        logLevel: args['log-level'],
        logFormat: args['log-format'],
        only: { role, id: args.id! },
      }),
  };
}

export const coreCommand = oneNode('core');
export const edgeCommand = oneNode('edge');
