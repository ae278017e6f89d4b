// `relaymesh up`, `relaymesh core --id`, `relaymesh edge --id`: run the whole topology, or one node of it.

import type { CommandModule } from 'yargs';
import type { LogFormat } from '../logger.js';
import { runEdgeWorkers } from '../edge-workers.js';
import { fail } from '../exit.js';
import { runMesh } from '../mesh-runner.js';

interface RunArgs {
  topology: string;
  'log-level': string;
  'log-format': LogFormat;
  id?: string;
  workers?: number;
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
    builder: (y) => {
      const node = y
        .option('topology', topologyOption)
        .option('id', { type: 'string', demandOption: true, describe: `the ${role}'s id in the topology` });
      if (role === 'core') return node as never;
      return node.option('workers', {
        type: 'number',
        default: 1,
        describe: 'processes serving the edge’s listen address, sharing its one uplink',
      }) as never;
    },
    handler: (args) => {
      const selection = {
        topologyFile: args.topology,
        logLevel: args['log-level'],
        logFormat: args['log-format'],
        only: { role, id: args.id! },
      };
      const workers = args.workers ?? 1;
      if (!Number.isSafeInteger(workers) || workers < 1 || workers > 256)
        return fail(`--workers must be a whole number from 1 to 256, not ${args.workers}`);
      return workers > 1 ? runEdgeWorkers(selection, workers) : runMesh(selection);
    },
  };
}

export const coreCommand = oneNode('core');
export const edgeCommand = oneNode('edge');
